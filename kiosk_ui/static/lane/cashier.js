// The cashier lane: keyboard first. Scans arrive from the scan gun through the daemon and show
// up over the lane's WebSocket; the number pad types amounts and quantities; a key per action
// (the legend on screen lists them, and each is also a button). Everything is drawn as text.
import { api, errorText } from "../js/api.js";
import { memberText, renderCoupons, renderDiscounts, renderLines } from "../js/cart_view.js";
import { yuan } from "../js/dom.js";
import { applyI18n, onLangChange, otherLang, setLang, setTimeZone, t } from "../js/i18n.js";
import { connectLive } from "../js/live.js";
import { eventText, pageData } from "../js/shopper.js";
import { makeActions } from "./actions.js";

const data = pageData();
const lane = data.lane;
const base = `/api/lanes/${encodeURIComponent(lane)}`;
const $ = (id) => document.getElementById(id);
const COLUMNS = ["no", "item", "qty", "price", "amount", "discount", "net"];
const KEYMAP = {
  F2: "quantity", q: "quantity", "*": "quantity",
  F3: "void_line", d: "void_line", Delete: "void_line",
  F4: "price", p: "price",
  F5: "suspend", s: "suspend",
  F6: "member", m: "member",
  F7: "refund", r: "refund",
  F8: "drawer", k: "drawer",
  F9: "x_report", x: "x_report",
  F10: "z_report", z: "z_report",
  v: "void_sale", e: "keyed", l: "signout", o: "open_shift",
};

const state = {
  session: data.session || {},   // {cashier, shift} of this browser's sign-in
  snapshot: null,
  selected: null,
  buffer: "",
  busy: false,
  askedShift: false,
};

setTimeZone(data.store?.timezone);

function csrf(token) {
  let meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) {
    meta = document.createElement("meta");
    meta.name = "csrf-token";
    document.head.append(meta);
  }
  meta.content = token || "";
}

// Write a text only when it changed: the render path runs on every scan, and a node left
// alone costs the next frame nothing.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function say(text, { error = false } = {}) {
  const message = $("message");
  setText(message, text);
  const name = `message${error ? " error" : ""}`;
  if (message.className !== name) message.className = name;
}

function showBuffer() {
  setText($("buffer"), state.buffer);
  setText($("entry-mode"), state.buffer ? t("lane.entry.typed") : t("lane.entry.hint"));
}

function showScreens() {
  const signedIn = Boolean(state.session.cashier);
  $("signin").hidden = signedIn;
  $("till").hidden = !signedIn;
  setText($("cashier"), signedIn ? t("lane.cashier", { name: state.session.cashier.name,
    role: t(`role.${state.session.cashier.role}`) }) : "");
  const shift = state.snapshot?.staff?.shift ?? state.session.shift;
  setText($("shift"), shift ? t("lane.shift", { no: shift.shift_no }) : t("lane.no_shift"));
  if (!signedIn && document.activeElement?.form !== $("signin-form")) {
    $("signin-form").elements.name.focus();
  }
}

function lines() { return state.snapshot?.lines || []; }

function select(lineId) {
  state.selected = lineId;
  for (const row of document.querySelectorAll("#cart tbody tr")) {
    const on = row.dataset.line === lineId;
    row.setAttribute("aria-selected", on ? "true" : "false");
    row.classList.toggle("selected", on);
  }
}

function render(snapshot) {
  const previous = state.snapshot;
  state.snapshot = snapshot;
  const staff = snapshot.staff || {};
  // Signed out elsewhere (idle, another cashier, account disabled): back to the sign-in form.
  if (state.session.cashier && staff.cashier?.name !== state.session.cashier.name) {
    state.session = { cashier: null, shift: null };
    csrf("");
    say(t("lane.signed_out_elsewhere"), { error: true });
  }
  const ids = snapshot.lines.map((line) => line.line_id);
  if (!ids.includes(state.selected)) state.selected = ids[ids.length - 1] || null;
  const grew = previous && snapshot.lines.length > previous.lines.length;
  if (grew) state.selected = ids[ids.length - 1];
  renderLines($("cart").tBodies[0], snapshot.lines, { columns: COLUMNS, selected: state.selected });
  renderDiscounts($("discounts"), snapshot.discounts);
  renderCoupons($("coupons"), snapshot.coupons);
  setText($("member"), [memberText(snapshot.member), pendingText(snapshot.tenders_pending)]
    .filter(Boolean).join(" · "));
  setText($("subtotal"), yuan(snapshot.subtotal_fen));
  setText($("discount"), snapshot.discount_fen ? `-${yuan(snapshot.discount_fen)}` : yuan(0));
  setText($("total"), yuan(snapshot.total_fen));
  // The change stays up until the next thing happens at the lane.
  const sold = snapshot.last_event?.code === "sale_completed" && snapshot.last_sale;
  $("change").hidden = !sold;
  if (sold) setText($("change"), t("lane.change", { change: yuan(snapshot.last_sale.change_fen),
    total: yuan(snapshot.last_sale.total_fen) }));
  renderAlert(snapshot);
  renderEvent(snapshot);
  renderSync(snapshot.sync);
  renderLastSale(snapshot.last_sale);
  showScreens();
  // The last scan drawn; an event of no scan after it (a receipt printed) leaves it.
  if (snapshot.last_event?.scan_id) document.body.dataset.scan = snapshot.last_event.scan_id;
  if (state.session.cashier && !staff.shift && !state.askedShift && !document.querySelector("dialog[open]")) {
    state.askedShift = true;
    run("open_shift");
  }
  if (staff.shift) state.askedShift = false;
}

// Points or stored value the loyalty part has put towards this sale, when it is there.
function pendingText(pending) {
  if (!Array.isArray(pending) || !pending.length) return "";
  return pending.map((p) => `${t(`tender.${p.kind}`)} ${yuan(p.amount_fen)}`).join(" · ");
}

function renderEvent(snapshot) {
  const event = snapshot.last_event;
  if (snapshot.payment) {
    say(t("lane.paying", { amount: yuan(snapshot.payment.amount_fen || snapshot.total_fen) }));
    return;
  }
  if (!event) return;
  say(eventText(event), { error: !event.ok });
}

// What the checkout part adds when it is there: an intervention or a locked lane.
function renderAlert(snapshot) {
  const alert = $("alert");
  const intervention = snapshot.intervention;
  const text = intervention ? t("lane.intervention", { reason: (document.body.dataset.lang === "en"
    ? intervention.en : intervention.zh) || intervention.reason }) : snapshot.locked ? t("lane.locked") : "";
  alert.hidden = !text;
  setText(alert, text);
}

function renderSync(sync) {
  const line = $("sync");
  const value = sync || { state: "offline", reason: "" };
  line.dataset.state = value.state;
  setText(line, t(`lane.sync.${value.state}`));
  line.title = value.reason || "";
}

function renderLastSale(sale) {
  const line = $("last-sale");
  if (!sale) { setText(line, ""); return; }
  const parts = [t("lane.last_sale", { receipt: sale.receipt_no, total: yuan(sale.total_fen),
    change: yuan(sale.change_fen) })];
  if (sale.printed === true) parts.push(t("lane.receipt_printed"));
  if (sale.print_error) parts.push(t("lane.receipt_not_printed", { error: sale.print_error }));
  setText(line, parts.join(" · "));
}

async function call(method, path, body) {
  return api(method, `${base}${path}`, body);
}

const actions = makeActions({
  call, say, state, lane, data,
  selectedLine: () => lines().find((line) => line.line_id === state.selected) || null,
  takeBuffer: () => { const value = state.buffer; state.buffer = ""; showBuffer(); return value; },
  showChange(sale) {
    const box = $("change");
    box.hidden = false;
    box.textContent = t("lane.change", { change: yuan(sale.change_fen), total: yuan(sale.total_fen) });
  },
  signedOut() {
    state.session = { cashier: null, shift: null };
    csrf("");
    showScreens();
  },
  fail(err) { say(errorText(err), { error: true }); },
});

async function run(name) {
  if (state.busy || !actions[name]) return;
  state.busy = true;
  document.body.dataset.busy = "yes";
  try {
    await actions[name]();
  } catch (err) {
    actions.fail(err);
  } finally {
    state.busy = false;
    document.body.dataset.busy = "no";
  }
}

function onKey(event) {
  if ($("till").hidden || document.querySelector("dialog[open]")) return;
  if (event.target.closest?.("input, select, textarea") || event.ctrlKey || event.altKey || event.metaKey) return;
  const key = event.key;
  if (/^[0-9]$/.test(key) || (key === "." && !state.buffer.includes("."))) {
    if (state.buffer.length < 12) state.buffer += key;
    showBuffer();
  } else if (key === "Backspace") {
    state.buffer = state.buffer.slice(0, -1);
    showBuffer();
  } else if (key === "Escape") {
    if (state.snapshot?.payment) run("cancel_payment");
    state.buffer = "";
    showBuffer();
  } else if (key === "Enter") {
    run("cash");
  } else if (key === "ArrowDown" || key === "ArrowUp") {
    const ids = lines().map((line) => line.line_id);
    const at = ids.indexOf(state.selected);
    const next = key === "ArrowDown" ? Math.min(ids.length - 1, at + 1) : Math.max(0, at - 1);
    if (ids.length) select(ids[next]);
  } else {
    const action = KEYMAP[key] || KEYMAP[key.length === 1 ? key.toLowerCase() : ""];
    if (!action) return;
    run(action);
  }
  event.preventDefault();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  $("signin-error").textContent = "";
  try {
    const session = await call("POST", "/signin", { name: form.elements.name.value,
      password: form.elements.password.value });
    form.reset();
    csrf(session.csrf);
    state.session = { cashier: session.cashier, shift: session.shift };
    state.askedShift = false;
    showScreens();
    // The lane pushes its state with the new cashier; an older snapshot must not undo this.
    if (state.snapshot?.staff?.cashier?.name === session.cashier.name) render(state.snapshot);
  } catch (err) {
    $("signin-error").textContent = errorText(err);
    form.elements.password.select();
  }
}

$("signin-form").addEventListener("submit", signIn);
document.addEventListener("keydown", onKey);
for (const button of document.querySelectorAll("#till [data-action]")) {
  button.addEventListener("click", () => {
    const name = button.dataset.action;
    run(name === "cash" ? "cash" : name);
  });
}
for (const row of [$("cart")]) {
  row.addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-line]");
    if (tr) select(tr.dataset.line);
  });
}
const toggle = $("lang-toggle");
toggle.addEventListener("click", () => setLang(otherLang()).catch(() => {}));
onLangChange(() => {
  toggle.textContent = t("common.other_lang");
  applyI18n();
  showBuffer();
  if (state.snapshot) render(state.snapshot);
});
showBuffer();
showScreens();
connectLive(`/ws/lanes/${encodeURIComponent(lane)}`, render, {
  onState(up) { if (!up) say(t("common.reconnecting"), { error: true }); },
});
document.body.dataset.ready = "yes";
