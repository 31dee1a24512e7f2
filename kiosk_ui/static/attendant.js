// The attendant's view: every kiosk that needs someone, oldest first, live over a WebSocket.
// Each card says why (in both languages), what the kiosk measured or asked for, and takes a
// supervisor PIN for when the badge is not at hand. Text only: names arrive from the catalog.
import { h, replace, yuan } from "./js/dom.js";
import { connectLive } from "./js/live.js";
import { formatTime, setTimeZone, t } from "./js/i18n.js";

const data = JSON.parse(document.getElementById("page-data")?.textContent || "null") || {};
setTimeZone(data.store?.timezone);
const list = document.getElementById("waiting");
const none = document.getElementById("none");
const live = document.getElementById("live");

function detail(item) {
  const d = item.detail || {};
  const parts = [];
  if (d.name) parts.push(d.name);
  if (d.expected_g !== undefined && d.expected_g !== null) {
    parts.push(t("attendant.expected", { grams: d.expected_g }));
  }
  if (d.measured_g !== undefined && d.measured_g !== null) {
    parts.push(t("attendant.measured", { grams: d.measured_g }));
  }
  if (d.grams !== undefined) parts.push(t("attendant.grams", { grams: d.grams }));
  if (d.units !== undefined && d.limit !== undefined) {
    parts.push(t("attendant.limit", { units: d.units, limit: d.limit }));
  }
  if (d.code) parts.push(d.code);
  if (d.text) parts.push(`“${d.text}”`);
  if (Array.isArray(d.items)) {
    parts.push(t("attendant.rescan", { names: d.items.map((i) => i.name).join("、"),
      done: (d.done || []).length, of: d.items.length }));
  }
  return parts.join(" · ");
}

async function clearWithPin(lane, input, status) {
  status.textContent = "";
  try {
    const response = await fetch(`/api/lanes/${encodeURIComponent(lane)}/intervention/clear`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ kind: "pin", secret: input.value }),
    });
    const body = await response.json();
    status.textContent = response.ok ? body.message : `${body.zh || body.error} / ${body.en || ""}`;
  } catch {
    status.textContent = t("attendant.offline");
  }
  input.value = "";
}

function card(lane) {
  const [first, ...more] = lane.interventions;
  const input = h("input", { type: "password", inputmode: "numeric", autocomplete: "off",
    maxlength: 8, "aria-label": t("attendant.pin") });
  const status = h("span", { class: "status", role: "status" });
  const form = h("form", { class: "pin" }, input,
    h("button", { type: "submit" }, t("attendant.clear")), status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearWithPin(lane.lane, input, status);
  });
  return h("li", { class: ["waiting", first.reason], "data-lane": lane.lane,
    "data-reason": first.reason },
  h("h2", {}, `${lane.name} `, h("span", { class: "reason" }, `${first.zh} / ${first.en}`)),
  h("p", { class: "detail" }, detail(first)),
  h("p", { class: "muted" }, t("attendant.since", { time: formatTime(first.raised_at,
    { date: false }) }), ` · ${t("attendant.cart", { items: lane.items,
    total: yuan(lane.total_fen) })}`,
  more.length ? ` · ${t("attendant.more", { count: more.length })}` : ""),
  form);
}

function render(view) {
  replace(list, ...view.lanes.map(card));
  none.hidden = view.lanes.length > 0;
  document.body.dataset.waiting = String(view.lanes.length);
}

connectLive("/ws/attendant", render, {
  onState: (up) => { live.textContent = up ? t("attendant.live") : t("attendant.offline"); },
});
