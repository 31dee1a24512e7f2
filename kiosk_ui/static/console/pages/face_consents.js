// Members' face consents; deleting one withdraws the consent and erases the templates
// everywhere (the face part does it and audits it).
import { act, api, errorText } from "../../js/api.js";
import { field, h, replace, table } from "../../js/dom.js";
import { formatTime, has, onLangChange, t } from "../../js/i18n.js";
import { ask } from "../../js/dialog.js";

export async function mount(root) {
  const filter = h("input", { name: "member", maxlength: 64, id: "face-filter" });
  const status = h("p", { class: "status", role: "status", id: "face-status" });
  const holder = h("div");
  let page = null;

  async function load() {
    const query = filter.value.trim() ? `?member=${encodeURIComponent(filter.value.trim())}` : "";
    try {
      page = await api("GET", `/console/api/face-consents${query}`);
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  async function remove(memberId) {
    const ok = await ask({ title: t("face.delete"), message: t("face.confirm", { member: memberId }),
      confirm: t("face.delete") });
    if (!ok) return;
    await act(status, async () => {
      await api("POST", "/console/api/face-consents/delete", { member_id: memberId });
      return t("face.deleted", { member: memberId });
    }, load);
  }

  const form = h("form", { class: "inline", role: "search" });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });

  function render() {
    replace(form, field(t("face.filter"), filter),
      h("button", { type: "submit" }, t("common.search")));
    if (!page) return replace(holder, h("p", {}, t("common.loading")));
    if (!page.configured) {
      return replace(holder, h("p", { class: "muted", id: "face-not-configured" },
        t("face.not_configured")));
    }
    if (!page.consents.length) return replace(holder, h("p", { class: "muted" }, t("face.none")));
    return replace(holder, table(
      [t("face.member"), t("face.version"), t("face.scope"), t("face.recorded_at"),
        t("face.device"), t("face.templates"), ""],
      page.consents.map((c) => h("tr", { "data-member": c.member_id },
        h("td", {}, c.member_id), h("td", {}, c.version),
        h("td", {}, has(`face.scope.${c.scope}`) ? t(`face.scope.${c.scope}`) : c.scope),
        h("td", {}, formatTime(c.recorded_at)), h("td", {}, c.device || ""),
        h("td", {}, String(c.templates)),
        h("td", {}, h("button", { type: "button", class: "danger",
          onclick: () => remove(c.member_id) }, t("face.delete"))))), { id: "consents" }));
  }
  replace(root, form, status, holder);
  onLangChange(render);
  await load();
}
