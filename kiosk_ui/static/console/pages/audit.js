// The audit log: who did what to what, newest first, paged, filtered by target.
import { api, errorText } from "../../js/api.js";
import { field, h, replace, table } from "../../js/dom.js";
import { formatTime, onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  const target = h("input", { name: "target", maxlength: 128, id: "audit-target" });
  const status = h("p", { class: "status", role: "status" });
  const holder = h("div");
  let entries = [];
  let next = null;

  async function load(append = false) {
    const params = new URLSearchParams();
    if (target.value.trim()) params.set("target", target.value.trim());
    if (append && next) params.set("before", next);
    try {
      const page = await api("GET", `/console/api/audit?${params}`);
      entries = append ? entries.concat(page.entries) : page.entries;
      next = page.next;
      status.textContent = "";
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  const form = h("form", { class: "inline", role: "search" });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });

  function render() {
    replace(form, field(t("audit.filter"), target),
      h("button", { type: "submit", class: "primary" }, t("common.search")));
    replace(holder, entries.length ? table(
      [t("audit.time"), t("audit.actor"), t("audit.action"), t("audit.target"),
        t("audit.detail")],
      entries.map((e) => h("tr", { "data-action": e.action },
        h("td", {}, formatTime(e.at)), h("td", {}, e.actor), h("td", {}, e.action),
        h("td", {}, e.target || ""),
        h("td", { class: "detail" }, Object.keys(e.detail).length
          ? JSON.stringify(e.detail) : ""))), { id: "audit" })
      : h("p", { class: "muted" }, t("audit.none")),
    next ? h("button", { type: "button", onclick: () => load(true) }, t("common.more")) : null);
  }
  replace(root, form, status, holder);
  onLangChange(render);
  await load();
}
