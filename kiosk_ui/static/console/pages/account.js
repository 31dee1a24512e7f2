// Change one's own password; every session of the account ends, so sign in again.
import { api, errorText } from "../../js/api.js";
import { field, h, replace } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  const current = h("input", { type: "password", required: true, maxlength: 256,
    autocomplete: "current-password", name: "current" });
  const next = h("input", { type: "password", required: true, minlength: 8, maxlength: 128,
    autocomplete: "new-password", name: "new" });
  const again = h("input", { type: "password", required: true, minlength: 8, maxlength: 128,
    autocomplete: "new-password", name: "new2" });
  const status = h("p", { class: "status", role: "alert" });
  const form = h("form", { class: "card narrow" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (next.value !== again.value) {
      status.textContent = t("setup.mismatch");
      return;
    }
    try {
      await api("POST", "/console/api/me/password", { current: current.value, new: next.value });
      status.textContent = t("account.done");
      setTimeout(() => { location.href = "/console/login"; }, 1500);
    } catch (err) {
      status.textContent = errorText(err);
    }
  });
  function render() {
    replace(form, h("h2", {}, t("account.change_password")),
      field(t("account.current"), current), field(t("account.new"), next),
      field(t("account.new2"), again), status,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" },
        t("account.submit"))));
  }
  render();
  onLangChange(render);
  replace(root, form);
}
