// The loaded configuration, secrets masked by the server before it leaves the appliance.
import { api, errorText } from "../../js/api.js";
import { h, replace } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  let page = null;
  let error = "";
  try {
    page = await api("GET", "/console/api/config");
  } catch (err) {
    error = errorText(err);
  }
  function render() {
    if (!page) return replace(root, h("p", { class: "error" }, error));
    return replace(root, h("p", {}, t("cfg.source", { source: page.source })),
      h("p", { class: "muted" }, t("cfg.masked")),
      h("pre", { id: "config", class: "code" }, JSON.stringify(page.config, null, 2)));
  }
  render();
  onLangChange(render);
}
