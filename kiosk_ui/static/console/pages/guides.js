// Shop guides (导购): sales attributed to each guide, amount, first-time and repeat customers,
// for a date range (the store's local days; the last 7 days by default).
import { api, errorText } from "../../js/api.js";
import { field, h, replace, table, yuan } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  const from = h("input", { type: "date", name: "from", id: "guides-from" });
  const to = h("input", { type: "date", name: "to", id: "guides-to" });
  const status = h("p", { class: "status", role: "status" });
  const holder = h("div");
  let report = null;

  async function load() {
    const params = new URLSearchParams();
    if (from.value) params.set("from", from.value);
    if (to.value) params.set("to", to.value);
    try {
      report = await api("GET", `/console/api/guides?${params}`);
      from.value = report.from;
      to.value = report.to;
      status.textContent = "";
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  const form = h("form", { class: "inline", role: "search" });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });

  function render() {
    replace(form, field(t("guides.from"), from), field(t("guides.to"), to),
      h("button", { type: "submit", class: "primary" }, t("common.search")));
    const guides = report ? report.guides : [];
    replace(holder, guides.length ? table(
      [t("guides.guide"), t("guides.sales"), t("guides.amount"), t("guides.first_time"),
        t("guides.repeat"), t("guides.anonymous")],
      guides.map((g) => h("tr", { "data-guide": g.guide_id },
        h("td", {}, `${g.name} (${g.guide_id})`), h("td", {}, String(g.sales)),
        h("td", {}, yuan(g.amount_fen)), h("td", { class: "first-time" }, String(g.first_time)),
        h("td", { class: "repeat" }, String(g.repeat)),
        h("td", {}, String(g.sales - g.member_sales)))), { id: "guides" })
      : h("p", { class: "muted", id: "guides-none" }, t("guides.no_sales")));
  }
  replace(root, form, status, holder);
  onLangChange(render);
  await load();
}
