// The exit station: PASS or FAIL in big letters, the reason, and the items to rescan when the
// sale is picked for a check. Rendered from the lane's live snapshot (its `exit` field).
import { h, replace, yuan } from "./js/dom.js";
import { connectLive } from "./js/live.js";
import { t } from "./js/i18n.js";

const lane = document.getElementById("main").dataset.lane;
const verdict = document.getElementById("verdict");
const reason = document.getElementById("reason");
const sale = document.getElementById("sale");
const rescan = document.getElementById("rescan");
const WORDS = { idle: "exit.idle", passed: "exit.pass", refused: "exit.fail", audit: "exit.check" };

function render(state) {
  const exit = state.exit || { state: "idle" };
  verdict.className = `verdict ${exit.state}`;
  verdict.textContent = t(WORDS[exit.state] || "exit.idle");
  document.body.dataset.exit = exit.state;
  reason.textContent = exit.state === "idle" ? "" : `${exit.zh || ""} / ${exit.en || ""}`;
  sale.textContent = exit.item_count !== undefined
    ? t("exit.sale", { items: exit.item_count, total: yuan(exit.amount_fen) }) : "";
  const audit = exit.state === "audit" ? exit.audit : null;
  if (!audit) return replace(rescan);
  const done = [...(audit.done || [])];
  const rows = audit.listed ? audit.items.map((item) => {
    const at = done.indexOf(item.product_id);
    if (at >= 0) done.splice(at, 1);
    return h("li", { class: at >= 0 ? "done" : "" }, item.name);
  }) : [h("li", {}, t("exit.count", { n: audit.count }))];
  return replace(rescan, ...rows);
}

connectLive(`/ws/lanes/${encodeURIComponent(lane)}`, render);
