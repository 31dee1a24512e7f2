// The cashier page's larger dialogs: choosing what to refund, and an X or Z report. Native
// <dialog> elements built with h() (text only); Escape cancels, Enter submits.
import { field, h, table, yuan } from "../js/dom.js";
import { formatTime, t } from "../js/i18n.js";

function modal(content, onClose) {
  const dialog = h("dialog", { class: "ask wide" }, content);
  dialog.addEventListener("close", () => { dialog.remove(); onClose(dialog.returnValue); });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function buttons(confirm, dialog) {
  return h("div", { class: "actions" },
    confirm ? h("button", { type: "submit", value: "ok", class: "primary" }, confirm) : null,
    h("button", { type: "button", onclick: () => dialog().close("cancel") },
      confirm ? t("common.cancel") : t("lane.close")));
}

// Ask which units of which lines to refund, why, and the supervisor's PIN.
export function chooseRefund(sale) {
  return new Promise((resolve) => {
    const inputs = sale.lines.map((line) => h("input", {
      type: "number", min: 0, max: line.left, step: 1, value: line.left,
      "data-line": line.line_no, disabled: line.left === 0, inputmode: "numeric",
      "aria-label": t("lane.refund.qty_of", { name: line.name }),
    }));
    const reason = h("input", { name: "reason", maxlength: 200, autocomplete: "off" });
    const pin = h("input", { name: "pin", type: "password", inputmode: "numeric", required: true,
      pattern: "[0-9]{4,8}", maxlength: 8, autocomplete: "off" });
    const rows = sale.lines.map((line, i) => h("tr", {},
      h("td", {}, String(line.line_no)), h("td", {}, line.name), h("td", {}, String(line.qty)),
      h("td", {}, yuan(line.net_fen)), h("td", {}, String(line.left)), h("td", {}, inputs[i])));
    const form = h("form", { method: "dialog" },
      h("h2", {}, t("lane.refund.title", { lane: sale.lane, receipt: sale.receipt_no })),
      h("p", {}, t("lane.refund.sale", { time: formatTime(sale.created_at),
        total: yuan(sale.total_fen), refunded: yuan(sale.refunded_fen) })),
      sale.wallet_paid ? h("p", { class: "notice", role: "note" }, t("lane.refund.wallet")) : null,
      table([t("lane.col.no"), t("lane.col.item"), t("lane.refund.sold"), t("lane.col.net"),
        t("lane.refund.left"), t("lane.refund.qty")], rows, { class: "refund-lines" }),
      field(t("lane.refund.reason"), reason),
      field(t("lane.approve.pin"), pin),
      buttons(t("lane.refund.submit"), () => dialog));
    const dialog = modal(form, (value) => {
      if (value !== "ok") { resolve(null); return; }
      const lines = inputs.map((input) => ({ line_no: Number(input.dataset.line),
        qty: Number(input.value || 0) })).filter((line) => line.qty > 0);
      resolve({ lines, reason: reason.value.trim(), pin: pin.value });
    });
  });
}

function figures(report) {
  const drawer = report.drawer;
  const rows = [
    [t("report.sales"), String(report.sales.count)],
    [t("report.amount"), yuan(report.sales.amount_fen)],
    [t("report.discounts"), yuan(report.sales.discount_fen)],
    ...report.tenders.map((tender) => [t("report.tender", { kind: t(`tender.${tender.kind}`),
      count: tender.count }), yuan(tender.amount_fen)]),
    [t("report.void_lines", { count: report.voids.line.count }), yuan(report.voids.line.amount_fen)],
    [t("report.void_sales", { count: report.voids.sale.count }), yuan(report.voids.sale.amount_fen)],
    [t("report.refunds", { count: report.refunds.count }), yuan(report.refunds.amount_fen)],
    [t("report.float"), yuan(drawer.float_fen)],
    [t("report.cash_in"), yuan(drawer.cash_in_fen)],
    [t("report.change"), yuan(-drawer.change_fen)],
    [t("report.cash_refunds"), yuan(-drawer.refunds_fen)],
    [t("report.expected"), yuan(drawer.expected_fen)],
  ];
  if (drawer.counted_fen !== null && drawer.counted_fen !== undefined) {
    rows.push([t("report.counted"), yuan(drawer.counted_fen)],
      [t("report.difference"), yuan(drawer.difference_fen)]);
  }
  return rows.map(([label, value]) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td", { "data-figure": label }, value)));
}

// Show an X or Z report. It only informs, so the action that asked for it is done as soon as it
// is on screen: the till takes keys again the moment Escape closes it, not one task later when
// the dialog's close event fires.
export function showReport(report) {
  let note = null;
  if (report.kind === "Z") {
    const printed = report.printed;
    note = h("p", { class: printed && !["printed", "already_printed"].includes(printed.outcome)
      ? "error" : "note" }, printed ? t("report.printed", { outcome: t(`print.${printed.outcome}`),
      message: printed.message }) : t("report.not_printed"));
  }
  const content = h("form", { method: "dialog", class: `report report-${report.kind}` },
    h("h2", {}, t("report.title", { kind: report.kind, shift: report.shift_no })),
    h("p", {}, t("report.period", { from: formatTime(report.opened_at), to: formatTime(report.at),
      by: report.by })),
    h("table", { class: "figures" }, h("tbody", {}, figures(report))),
    report.cashiers.length ? h("p", {}, report.cashiers.map((c) =>
      t("report.cashier", { name: c.name, sales: c.sales, amount: yuan(c.amount_fen) })).join("; ")) : null,
    note,
    buttons(null, () => dialog));
  const dialog = modal(content, () => {});
  return dialog;
}
