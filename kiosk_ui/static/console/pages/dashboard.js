// The dashboard, pushed over a WebSocket on every change and every few seconds.
import { h, replace, yuan } from "../../js/dom.js";
import { formatTime, has, onLangChange, t } from "../../js/i18n.js";
import { connectLive } from "../../js/live.js";
import { hourChart } from "../chart.js";

const SYNC_KEYS = new Set(["state", "reason", "queue_depth", "pending_fen",
  "pending_amount_fen", "oldest_pending_age_s", "last_success", "clock_skew_s", "dead_letters"]);

function card(title, ...body) {
  return h("section", { class: "card" }, h("h2", {}, title), body);
}

function wideCard(title, ...body) {
  return h("section", { class: "card full" }, h("h2", {}, title), body);
}

function figure(label, value, id) {
  return h("div", { class: "figure" }, h("span", { class: "label" }, label),
    h("span", { class: "value", id }, value));
}

function syncCard(sync) {
  if (!sync) {
    return card(t("dash.sync"), h("p", { id: "sync-state", class: "muted" },
      t("dash.sync_not_configured")));
  }
  const key = `dash.sync_state.${sync.state}`;
  return card(t("dash.sync"),
    h("p", { id: "sync-state", class: `state ${sync.state}` },
      has(key) ? t(key) : String(sync.state), sync.reason ? ` — ${sync.reason}` : ""),
    h("div", { class: "figures" },
      figure(t("dash.queue_depth"), sync.queue_depth ?? "–"),
      figure(t("dash.pending_amount"), yuan(sync.pending_fen ?? sync.pending_amount_fen)),
      figure(t("dash.oldest_pending"), sync.oldest_pending_age_s == null ? "–"
        : t("dash.seconds", { n: Math.round(sync.oldest_pending_age_s) })),
      figure(t("dash.last_success"), formatTime(sync.last_success) || "–"),
      figure(t("dash.clock_skew"), sync.clock_skew_s == null ? "–"
        : t("dash.seconds", { n: sync.clock_skew_s })),
      figure(t("dash.dead_letters"), sync.dead_letters ?? "–"),
      // Anything else the sync part reports is shown as it comes, never hidden.
      Object.entries(sync).filter(([key]) => !SYNC_KEYS.has(key)).map(([key, value]) =>
        figure(key, typeof value === "object" ? JSON.stringify(value) : String(value)))));
}

function todayCard(view) {
  const today = view.today;
  if (!today) {
    return card(t("dash.today"), h("p", { class: "error" },
      t("dash.today_error", { reason: view.today_error || "" })));
  }
  const rate = today.digitisation_pct == null ? "–" : `${today.digitisation_pct}%`;
  return wideCard(t("dash.today"),
    h("div", { class: "figures" },
      figure(t("dash.sales_count"), String(today.sales), "today-sales"),
      figure(t("dash.sales_amount"), yuan(today.amount_fen), "today-amount"),
      figure(t("dash.digitisation"), rate, "today-digitisation")),
    today.tenders.length ? h("p", { class: "muted" }, `${t("dash.tenders")}: `,
      today.tenders.map((tender) => {
        const key = `tender.${tender.kind}`;
        return `${has(key) ? t(key) : tender.kind} ${tender.count} / ${yuan(tender.amount_fen)}  `;
      })) : null,
    h("h3", {}, t("dash.per_hour")),
    today.sales ? hourChart(today.per_hour) : h("p", { class: "muted" }, t("dash.no_sales")));
}

function devicesCard(devices) {
  return card(t("dash.devices"),
    h("p", { id: "devices-summary", class: devices.problems.length ? "warn" : "ok" },
      t("dash.devices_ok", { ok: devices.ok, total: devices.total })),
    h("ul", {}, devices.problems.map((d) => h("li", {}, h("b", {}, d.device_id), ": ",
      has(`state.${d.state}`) ? t(`state.${d.state}`) : d.state,
      d.reason ? ` — ${d.reason}` : ""))));
}

function lanesCard(lanes) {
  return card(t("dash.lanes"), h("ul", {}, lanes.map((lane) => h("li", {},
    h("b", {}, lane.name), ` (${lane.id}): `,
    t("dash.lane_cart", { items: lane.items, total: yuan(lane.total_fen) })))));
}

export async function mount(root, { banner }) {
  let view = null;
  const updated = h("p", { class: "muted", id: "updated" });
  const grid = h("div", { class: "grid" });
  function render() {
    if (!view) {
      replace(grid, h("p", {}, t("common.loading")));
      return;
    }
    banner(view.safe_mode ? t("banner.safe_mode", { reason: view.safe_mode_reason || "" }) : "");
    replace(grid, todayCard(view), syncCard(view.sync), devicesCard(view.devices),
      lanesCard(view.lanes));
    updated.textContent = t("common.updated", { time: formatTime(view.generated_at) });
    document.body.dataset.generated = view.generated_at;
  }
  replace(root, updated, grid);
  render();
  onLangChange(render);
  connectLive("/console/ws/dashboard", (message) => { view = message; render(); }, {
    onState: (up) => { if (!up) updated.textContent = t("common.reconnecting"); },
  });
}
