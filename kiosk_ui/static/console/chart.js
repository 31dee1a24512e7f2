// Per-hour sales as an SVG bar chart, drawn by hand: 24 bars, hour labels every 3 hours,
// a <title> on each bar for the tooltip and screen readers. No chart library is needed for
// one bar chart, and none may be fetched from a CDN.
import { svg, yuan } from "../js/dom.js";
import { t } from "../js/i18n.js";

const W = 720;
const H = 200;
const PAD = { left: 56, right: 8, top: 12, bottom: 24 };

export function hourChart(hours) {
  const max = Math.max(1, ...hours.map((h) => h.amount_fen));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / 24;
  const bars = hours.map((hour) => {
    const height = Math.round((hour.amount_fen / max) * plotH);
    const x = PAD.left + hour.hour * slot + slot * 0.15;
    return svg("rect", {
      class: hour.sales ? "bar" : "bar empty", x: x.toFixed(1),
      y: PAD.top + plotH - height, width: (slot * 0.7).toFixed(1), height: Math.max(height, 1),
      "data-hour": hour.hour, "data-sales": hour.sales,
    }, svg("title", {}, t("dash.hour_bar", {
      hour: String(hour.hour).padStart(2, "0"), next: String(hour.hour + 1).padStart(2, "0"),
      sales: hour.sales, amount: yuan(hour.amount_fen),
    })));
  });
  const labels = hours.filter((h) => h.hour % 3 === 0).map((hour) => svg("text", {
    x: (PAD.left + hour.hour * slot + slot / 2).toFixed(1), y: H - 6, class: "axis",
    "text-anchor": "middle",
  }, String(hour.hour).padStart(2, "0")));
  const grid = [0, 0.5, 1].map((f) => {
    const y = PAD.top + plotH - f * plotH;
    return [
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" },
        yuan(Math.round(max * f))),
    ];
  });
  return svg("svg", {
    viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("dash.chart_label"),
    class: "chart",
  }, grid, bars, labels);
}
