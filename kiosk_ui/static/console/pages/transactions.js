// Transactions and receipts: newest first, paged, searchable by receipt number and lane;
// a sale opens with its lines, discounts and tenders, and any column added later.
import { api, errorText } from "../../js/api.js";
import { field, h, replace, table, yuan } from "../../js/dom.js";
import { formatTime, has, onLangChange, t } from "../../js/i18n.js";

const SHOWN_SALE = new Set(["id", "lane", "receipt_no", "member_id", "subtotal_fen",
  "discount_fen", "total_fen", "paid_fen", "change_fen", "created_at"]);

function money(key, value) { return key.endsWith("_fen") ? yuan(value) : String(value ?? ""); }

function extraFields(row, shown) {
  const extra = Object.entries(row).filter(([key]) => !shown.has(key) && key !== "sale_id");
  return extra.length ? h("dl", { class: "extra" }, extra.map(([key, value]) =>
    [h("dt", {}, key), h("dd", {}, money(key, value))])) : null;
}

function detailView(detail) {
  const s = detail.sale;
  return h("section", { class: "card", id: "sale-detail", "data-sale": s.id },
    h("h2", {}, t("tx.detail", { lane: s.lane, receipt: s.receipt_no })),
    h("p", {}, `${formatTime(s.created_at)} · ${t("tx.member")}: ${s.member_id || "–"}`),
    h("h3", {}, t("tx.items")),
    table([t("tx.name"), t("tx.qty"), t("tx.amount"), t("tx.discount"), t("tx.net")],
      detail.lines.map((l) => h("tr", {}, h("td", {}, l.name),
        h("td", {}, l.weight_g ? `${(l.weight_g / 1000).toFixed(3)} kg` : String(l.qty)),
        h("td", {}, yuan(l.base_fen)), h("td", {}, l.discount_fen ? yuan(-l.discount_fen) : ""),
        h("td", {}, yuan(l.net_fen)))), { id: "sale-lines" }),
    detail.discounts.length ? [h("h3", {}, t("tx.discounts")),
      table([t("tx.label"), t("tx.amount")], detail.discounts.map((d) => h("tr", {},
        h("td", {}, d.label), h("td", {}, yuan(-d.amount_fen)))))] : null,
    h("h3", {}, t("tx.tenders")),
    table([t("tx.kind"), t("tx.amount"), t("tx.reference")], detail.tenders.map((tender) => {
      const key = `tender.${tender.kind}`;
      return h("tr", {}, h("td", {}, has(key) ? t(key) : tender.kind),
        h("td", {}, yuan(tender.amount_fen)), h("td", {}, tender.reference || ""));
    }), { id: "sale-tenders" }),
    h("p", {}, `${t("tx.subtotal")} ${yuan(s.subtotal_fen)} · ${t("tx.discount")} `
      + `${yuan(s.discount_fen)} · ${t("tx.total")} ${yuan(s.total_fen)} · ${t("tx.paid")} `
      + `${yuan(s.paid_fen)} · ${t("tx.change")} ${yuan(s.change_fen)}`),
    extraFields(s, SHOWN_SALE) ? [h("h3", {}, t("tx.other")), extraFields(s, SHOWN_SALE)]
      : null);
}

export async function mount(root) {
  const receipt = h("input", { name: "receipt", inputmode: "numeric", pattern: "[0-9]*",
    maxlength: 9, id: "receipt-search" });
  const lane = h("input", { name: "lane", maxlength: 32 });
  const status = h("p", { class: "status", role: "status" });
  const list = h("div");
  const detailHolder = h("div");
  let sales = [];
  let next = null;
  let detail = null;

  async function load(append = false) {
    const params = new URLSearchParams();
    if (receipt.value.trim()) params.set("receipt", receipt.value.trim());
    if (lane.value.trim()) params.set("lane", lane.value.trim());
    if (append && next) params.set("before", next);
    try {
      const page = await api("GET", `/console/api/sales?${params}`);
      sales = append ? sales.concat(page.sales) : page.sales;
      next = page.next;
      status.textContent = "";
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  async function open(id) {
    try {
      detail = await api("GET", `/console/api/sales/${encodeURIComponent(id)}`);
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
    document.getElementById("sale-detail")?.scrollIntoView();
  }

  const form = h("form", { class: "inline", role: "search" });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });

  function render() {
    replace(form, field(t("tx.receipt_no"), receipt), field(t("tx.lane"), lane),
      h("button", { type: "submit", class: "primary" }, t("common.search")),
      h("button", { type: "button", onclick: () => { receipt.value = ""; lane.value = ""; load(); } },
        t("common.clear")));
    replace(list, sales.length ? table(
      [t("tx.time"), t("tx.lane"), t("tx.receipt"), t("tx.member"), t("tx.lines"),
        t("tx.total"), ""],
      sales.map((s) => h("tr", { "data-sale": s.id },
        h("td", {}, formatTime(s.created_at)), h("td", {}, s.lane),
        h("td", {}, String(s.receipt_no)), h("td", {}, s.member_id || "–"),
        h("td", {}, String(s.line_count)), h("td", {}, yuan(s.total_fen)),
        h("td", {}, h("button", { type: "button", onclick: () => open(s.id) },
          t("tx.open"))))), { id: "sales" })
      : h("p", { class: "muted" }, t("tx.none")),
    next ? h("button", { type: "button", onclick: () => load(true) }, t("common.more")) : null);
    replace(detailHolder, detail ? detailView(detail) : null);
  }
  replace(root, form, status, list, detailHolder);
  onLangChange(render);
  await load();
}
