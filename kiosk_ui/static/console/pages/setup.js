// First-run setup: the one-time code from the daemon's log creates the first IT admin.
import { api, errorText } from "../../js/api.js";
import { field, h, replace } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  const code = h("input", { name: "code", required: true, autocomplete: "one-time-code",
    maxlength: 64, autofocus: true, spellcheck: "false" });
  const name = h("input", { name: "name", required: true, autocomplete: "username",
    maxlength: 32 });
  const password = h("input", { name: "password", type: "password", required: true,
    minlength: 8, maxlength: 128, autocomplete: "new-password" });
  const again = h("input", { name: "password2", type: "password", required: true,
    minlength: 8, maxlength: 128, autocomplete: "new-password" });
  const error = h("p", { class: "status error", role: "alert", id: "setup-error" });
  const submit = h("button", { type: "submit", class: "primary" });
  const form = h("form", { class: "card narrow", id: "setup-form" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (password.value !== again.value) {
      error.textContent = t("setup.mismatch");
      again.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api("POST", "/console/api/setup",
        { code: code.value, name: name.value, password: password.value });
      location.href = "/console/dashboard";
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      submit.disabled = false;
    }
  });
  function render() {
    submit.textContent = t("setup.submit");
    replace(form, h("p", {}, t("setup.intro")), field(t("setup.code"), code),
      field(t("setup.name"), name), field(t("setup.password"), password),
      field(t("setup.password2"), again), error, h("div", { class: "actions" }, submit));
  }
  render();
  onLangChange(render);
  replace(root, form);
  code.focus();
}
