// The self-checkout kiosk. The lane's snapshot arrives over its WebSocket after every change
// (scans come from the kiosk's scanner through the daemon); this script picks the screen
// (attract, cart, pay, receipt, consent), draws it as text and calls the lane's JSON
// endpoints for what the shopper taps. The attendant lock (lock.js) covers everything while
// the lane has an intervention. Screens and states: docs/kiosk.md.
import { api, ApiError } from "../js/api.js";
import { quantityText, unitText } from "../js/cart_view.js";
import { h, replace, yuan } from "../js/dom.js";
import { lang, onLangChange, t } from "../js/i18n.js";
import { connectLive } from "../js/live.js";
import { eventText, initShopper, linkState, pageData } from "../js/shopper.js";
import { makeConsent } from "./consent.js";
import { makeIdle } from "./idle.js";
import { askDigits, closeKeypads } from "./keypad.js";
import { makeLock } from "./lock.js";

const data = pageData();
const base = `/api/lanes/${encodeURIComponent(data.lane)}`;
const $ = (id) => document.getElementById(id);
const SCREENS = { attract: "attract", cart: "cart-screen", pay: "pay-screen",
  receipt: "receipt-screen", consent: "consent-screen" };

const ui = {
  snapshot: null,
  screen: "attract",
  paying: false,        // the shopper is on the pay screen (or a payment code was scanned)
  receipt: null,        // the sale id the receipt screen shows
  dismissed: null,      // the last sale whose receipt screen the shopper (or idle) closed
  lastEvent: "",
  message: null,        // {text, error, until}
  payError: null,       // text of the last payment failure, until the next try
  busy: false,
  spendConfirmed: null, // the member whose last 4 digits were confirmed for spending
};

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function words(item) {
  return (lang() === "en" ? item?.en : item?.zh) || item?.zh || "";
}

function failureText(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return t("kiosk.error.network");
    if (err.body.zh || err.body.en) return words(err.body);
  }
  return t("kiosk.error", { message: err?.message || String(err) });
}

function say(text, error = false) {
  ui.message = text ? { text, error, until: Date.now() + data.kiosk.message_ms } : null;
  drawMessage();
}

function drawMessage() {
  const message = $("message");
  const live = ui.message && ui.message.until > Date.now() ? ui.message : null;
  setText(message, live ? live.text : "");
  message.classList.toggle("error", Boolean(live?.error));
}

// -- what the shopper taps ------------------------------------------------------------------

async function post(path, body = {}) {
  try {
    const answer = await api("POST", `${base}${path}`, body);
    if (answer && answer.ok === false) say(eventText({ code: answer.result, data: answer.data,
      message: answer.message }), true);
    return answer;
  } catch (err) {
    say(failureText(err), true);
    if (ui.screen === "pay") { ui.payError = failureText(err); drawPay(ui.snapshot); }
    return null;
  }
}

async function memberByPhone() {
  const phone = await askDigits({ title: t("kiosk.member.title"), message: t("kiosk.member.scan"),
    length: 11 });
  if (!phone) return;
  const asked = await post("/member/phone", { phone });
  if (asked?.result === "phone_confirm_needed") await confirmLast4(asked.data.phone_masked || "");
}

// Ask for the phone's last 4 digits; a wrong answer asks again while attempts are left.
async function confirmLast4(phone, message) {
  let note = message;
  for (;;) {
    const digits = await askDigits({ title: t("kiosk.member.last4", { phone }), message: note,
      length: 4, mask: true });
    if (!digits) return false;
    const answer = await post("/member/phone/confirm", { digits });
    if (answer?.result !== "phone_confirm_needed" || answer.ok) return Boolean(answer?.ok);
    note = eventText({ code: answer.result, data: answer.data, message: answer.message });
  }
}

// Points and stored value need the last 4 digits after a face match (a face never spends).
async function readyToSpend() {
  const member = ui.snapshot?.member;
  if (!member) return false;
  // The confirmation's own answer says whether it worked, and is remembered for this member:
  // the lane's next snapshot may still be on its way over the WebSocket.
  if (member.needs === "phone_last4" && ui.spendConfirmed !== member.id) {
    if (!await confirmLast4("", t("kiosk.member.last4_spend"))) return false;
    ui.spendConfirmed = member.id;
  }
  if (member.needs === "member_code") { say(t("kiosk.member.needs_code"), true); return false; }
  return true;
}

const consent = data.face ? makeConsent({ face: data.face, base, onClose: () => render() })
  : null;

const ACTIONS = {
  member: memberByPhone,
  call: () => post("/attendant", {}).then((answer) => answer && say(t("kiosk.called"))),
  pay: () => { ui.paying = true; ui.payError = null; render(); },
  back: () => { ui.paying = false; render(); },
  cancel_payment: () => post("/payment/cancel", {}),
  points: async () => {
    if (await readyToSpend()) await post("/tenders/points", { points: ui.snapshot.member.points_balance || 0 });
  },
  stored_value: async () => {
    if (await readyToSpend()) {
      await post("/tenders/stored-value", { amount_fen: ui.snapshot.member.stored_value_fen || 0 });
    }
  },
  finish: () => post("/tenders/finish", {}),
  done: () => { ui.dismissed = ui.receipt; ui.receipt = null; render(); },
  join: () => post("/member/join", { consent_version: ui.snapshot.join_offer.consent_version,
    accepted: true }),
  join_no: () => post("/member/join", { consent_version: ui.snapshot.join_offer.consent_version,
    accepted: false }),
  face: () => { consent?.open(); render(); },
  ...(consent ? consent.actions : {}),
};

async function run(name) {
  if (ui.busy || !ACTIONS[name]) return;
  ui.busy = true;
  document.body.dataset.busy = "yes";
  try {
    await ACTIONS[name]();
  } finally {
    ui.busy = false;
    document.body.dataset.busy = "no";
  }
}

// -- drawing ----------------------------------------------------------------------------------

function screenFor(s) {
  if (consent?.isOpen() && s.member) return "consent";
  if (s.payment) return "pay";
  if (!s.lines.length && ui.receipt && ui.receipt !== ui.dismissed) return "receipt";
  if (s.lines.length && ui.paying) return "pay";
  if (s.lines.length || s.member || s.phone_pending) return "cart";
  return "attract";
}

function showScreen(name) {
  ui.screen = name;
  for (const [key, id] of Object.entries(SCREENS)) {
    const el = $(id);
    if (el.hidden !== (key !== name)) el.hidden = key !== name;
  }
  if (document.body.dataset.screen !== name) document.body.dataset.screen = name;
}

function itemCell(line) {
  const parts = [h("span", { class: "name" }, line.name)];
  if (line.age_restricted) parts.push(h("span", { class: "badge age" }, "18+"));
  if (line.discount_fen) parts.push(h("span", { class: "was" }, yuan(line.base_fen)));
  return parts;
}

function drawCart(s) {
  replace($("cart").tBodies[0], s.lines.map((line) => h("tr", { "data-line": line.line_id,
    "data-product": line.product_id },
  h("td", { class: "col-item" }, itemCell(line)),
  h("td", { class: "col-price" }, unitText(line)),
  h("td", { class: "col-qty" }, quantityText(line)),
  h("td", { class: "col-net" }, yuan(line.net_fen)))));
  // Coupons have their own list (with why one did not apply); promotions are listed here.
  replace($("discounts"), (s.discounts || []).filter((d) => !String(d.promotion_id).startsWith("coupon:"))
    .map((d) => h("li", { class: "discount" }, `${d.label}: -${yuan(d.amount_fen)}`)));
  replace($("coupons"), (s.coupons || []).map((c) => h("li", { class: c.applied ? "coupon applied" : "coupon not" },
    c.applied ? `${c.label || c.code}: -${yuan(c.amount_fen)}` : `${c.label || c.code}: ${words(c) || c.reason || ""}`)));
  setText($("subtotal"), yuan(s.subtotal_fen));
  setText($("savings"), s.discount_fen ? `-${yuan(s.discount_fen)}` : yuan(0));
  setText($("total"), yuan(s.total_fen));
  const bag = s.expected_weight ? (ui.bagText || t("kiosk.bag.place")) : "";
  $("bagging").hidden = !bag;
  setText($("bagging"), bag);
  drawMessage();
}

function memberText(member) {
  if (!member) return "";
  const parts = [t("kiosk.member.hello", { name: member.name_masked || member.id })];
  const tier = t(`cart.tier.${member.tier}`);
  if (member.tier) parts.push(tier.startsWith("cart.") ? member.tier : tier);
  if (typeof member.points_balance === "number") parts.push(t("cart.points", { points: member.points_balance }));
  if (member.stored_value_fen) parts.push(t("kiosk.member.stored_value", { amount: yuan(member.stored_value_fen) }));
  if (member.identified_by) parts.push(t(`kiosk.member.by.${member.identified_by}`));
  return parts.join(" · ");
}

function drawMember(s) {
  setText($("member"), memberText(s.member));
  $("member").dataset.by = s.member?.identified_by || "";
  for (const button of document.querySelectorAll("[data-action=face]")) {
    button.hidden = !(data.face && s.member);
  }
}

function drawPay(s) {
  if (!s) return;
  const pending = s.tenders_pending || { total_fen: 0, rest_fen: s.total_fen };
  const rest = pending.total_fen ? pending.rest_fen : s.total_fen;
  setText($("pay-due"), yuan(s.payment ? s.payment.amount_fen : rest));
  setText($("pay-tenders"), pending.total_fen ? t("kiosk.pay.tenders", {
    points: yuan(pending.points_fen || 0), stored: yuan(pending.stored_value_fen || 0) }) : "");
  const paying = Boolean(s.payment);
  setText($("pay-progress"), paying ? t(`kiosk.pay.state.${s.payment.state}`) : "");
  $("pay-progress").dataset.state = paying ? s.payment.state : "";
  const error = paying ? null : ui.payError;
  $("pay-error").hidden = !error;
  setText($("pay-error"), error || "");
  const covered = pending.total_fen > 0 && rest === 0;
  setText($("pay-hint"), covered ? t("kiosk.pay.rest_zero") : t("kiosk.pay.show_code"));
  const member = s.member;
  const show = {
    points: !paying && !covered && member && (member.points_balance || 0) > 0,
    stored_value: !paying && !covered && member && (member.stored_value_fen || 0) > 0,
    finish: !paying && covered,
    cancel_payment: paying && s.payment.state === "waiting_user",
    back: !paying,
  };
  for (const [action, visible] of Object.entries(show)) {
    $("pay-screen").querySelector(`[data-action=${action}]`).hidden = !visible;
  }
}

function receiptQr(sale) {
  const figure = $("ereceipt");
  figure.hidden = !sale.receipt_qr;
  const src = sale.receipt_qr ? `${base}/last-sale/receipt-qr.svg?sale=${encodeURIComponent(sale.sale_id)}` : "";
  const img = $("ereceipt-qr");
  if (src && img.getAttribute("src") !== src) img.setAttribute("src", src);
}

function drawReceipt(s) {
  const sale = s.last_sale;
  if (!sale) return;
  setText($("receipt-summary"), t("kiosk.receipt.summary", { receipt: sale.receipt_no,
    total: yuan(sale.total_fen) }));
  setText($("receipt-points"), sale.points_earned ? t("kiosk.receipt.points", { points: sale.points_earned }) : "");
  setText($("receipt-print"), sale.printed === true ? t("kiosk.receipt.printed")
    : sale.print_error ? t("kiosk.receipt.not_printed") : "");
  receiptQr(sale);
  const issued = sale.issued_coupons || [];
  const shown = $("issued").dataset.sale === sale.sale_id && $("issued").childElementCount === issued.length;
  if (!shown) {
    $("issued").dataset.sale = sale.sale_id;
    replace($("issued"), issued.map((c) => h("figure", { class: "coupon-qr", "data-code": c.code },
      h("img", { src: `${base}/last-sale/coupons/${encodeURIComponent(c.code)}/qr.svg`,
        alt: c.label || c.code }),
      h("figcaption", {}, t("kiosk.receipt.coupon", { label: c.label || c.code })))));
  }
  const offer = s.join_offer;
  $("join").hidden = !offer;
  if (offer) {
    setText($("join-offer"), t("kiosk.receipt.join", { points: offer.points }));
    setText($("join-consent"), lang() === "en" ? offer.consent_en : offer.consent_zh);
  }
}

// Remember what a new event means for the screens (receipt, payment failure, bagging).
function onEvent(event, s) {
  const code = event.code;
  if (code === "sale_completed") {
    ui.receipt = event.data.sale_id || s.last_sale?.sale_id;
    ui.paying = false;
    ui.payError = null;
    closeKeypads();
  } else if (code.startsWith("payment_")) {
    if (s.lines.length) ui.paying = true;
    ui.payError = event.ok ? null : `${eventText(event)}`;
  } else if (code === "place_item_in_bag") {
    ui.bagText = eventText(event);
  } else if (code === "member_joined") {
    say(t("kiosk.receipt.joined"));
  }
  if (code === "item_added" || code === "weight_ok") ui.bagText = code === "weight_ok" ? null : ui.bagText;
  if (code !== "sale_completed" && !code.startsWith("payment_")) say(eventText(event), !event.ok);
}

let drawLock = null;

function render(snapshot = ui.snapshot) {
  if (!snapshot) return;
  ui.snapshot = snapshot;
  if (snapshot.member?.needs !== "phone_last4") ui.spendConfirmed = null;  // the lane knows now
  const event = snapshot.last_event;
  const key = event ? `${event.at}|${event.code}|${event.scan_id || ""}` : "";
  if (event && key !== ui.lastEvent) { ui.lastEvent = key; onEvent(event, snapshot); }
  if (snapshot.lines.length) { ui.receipt = null; }
  else if (!snapshot.payment) ui.paying = false;
  showScreen(screenFor(snapshot));
  drawCart(snapshot);
  drawMember(snapshot);
  drawPay(snapshot);
  drawReceipt(snapshot);
  drawLock(snapshot);
  $("wallet-offline").hidden = snapshot.wallet_online !== false;
  // The last scan drawn (tests and the benchmark wait on it); an event of no scan after it
  // (a receipt printed) leaves it.
  if (event?.scan_id) document.body.dataset.scan = event.scan_id;
}

function goAttract() {
  ui.dismissed = ui.receipt || ui.dismissed;
  ui.receipt = null;
  ui.paying = false;
  ui.message = null;
  consent?.close();
  render();
}

drawLock = makeLock({ base });
initShopper({ timeZone: data.store?.timezone, idleMs: data.kiosk.idle_ms });
const strip = h("div", { id: "wallet-offline", class: "wallet-offline", role: "status", hidden: true,
  "data-i18n": "kiosk.sync.offline" }, t("kiosk.sync.offline"));
document.querySelector("main").before(strip);
makeIdle({
  config: data.kiosk,
  current: () => ({ snapshot: ui.snapshot, name: ui.screen }),
  onVoid: () => { post("/void", {}).then(goAttract); },
  onForget: () => { post("/member/clear", {}).then(goAttract); },
  onReceiptDone: goAttract,
  onConsentDone: () => consent?.close(),
});
for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => run(button.dataset.action));
}
onLangChange(() => { consent?.redraw(); render(); });
setInterval(drawMessage, 1000);
connectLive(`/ws/lanes/${encodeURIComponent(data.lane)}`, render, { onState: linkState });
document.body.dataset.ready = "yes";
