// A lane's cart as the daemon's snapshot gives it, drawn as text (never HTML): shared by the
// cashier page and the kiosk page. Columns are chosen by the page; every cell is textContent.
import { h, replace, yuan } from "./dom.js";
import { t } from "./i18n.js";

export function quantityText(line) {
  if (line.weight_g) return `${(line.weight_g / 1000).toFixed(3)} kg`;
  return String(line.qty);
}

// A line's unit price as the shopper pays it before discounts (an override wins).
export function unitText(line) {
  if (line.weight_g) return `${yuan(line.unit_price_fen)}/kg`;
  return yuan(line.qty ? Math.round(line.base_fen / line.qty) : line.unit_price_fen);
}

const CELLS = {
  no: (line, i) => String(i + 1),
  item: (line) => line.name,
  qty: (line) => quantityText(line),
  price: (line) => unitText(line),
  amount: (line) => yuan(line.base_fen),
  discount: (line) => (line.discount_fen ? `-${yuan(line.discount_fen)}` : ""),
  net: (line) => yuan(line.net_fen),
};

// Fill tbody with one row per line; `selected` is a line id (marked aria-selected).
export function renderLines(tbody, lines, { columns, selected } = {}) {
  replace(tbody, lines.map((line, i) => h("tr", {
    "data-line": line.line_id, "data-product": line.product_id,
    "aria-selected": line.line_id === selected ? "true" : "false",
    class: [line.age_restricted && "age", line.line_id === selected && "selected"],
  }, columns.map((column) => h("td", { class: `col-${column}` }, CELLS[column](line, i))))));
}

export function renderDiscounts(list, discounts) {
  replace(list, (discounts || []).map((d) => h("li", {}, `${d.label}: -${yuan(d.amount_fen)}`)));
}

// Coupons of the loyalty part, when it is there (the snapshot has no `coupons` before).
export function renderCoupons(list, coupons) {
  replace(list, (coupons || []).map((c) => h("li", { class: c.applied ? "applied" : "not" },
    `${c.label || c.code}: ${c.applied ? `-${yuan(c.amount_fen)}` : t("cart.coupon_not_applied",
      { reason: c.reason || "" })}`)));
}

// The member as the lane shows them: masked name when the loyalty part gives one.
export function memberText(member) {
  if (!member) return "";
  const name = member.name_masked || member.name || member.id;
  const parts = [t("cart.member", { name })];
  if (member.tier) {
    const key = `cart.tier.${member.tier}`;
    parts.push(t(key) === key ? member.tier : t(key));
  }
  if (typeof member.points_balance === "number") {
    parts.push(t("cart.points", { points: member.points_balance }));
  }
  return parts.join(" · ");
}
