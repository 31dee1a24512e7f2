// Sign in. A lockout says for how long and what to do; the password is never kept.
import { api, errorText } from "../../js/api.js";
import { field, h, replace } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";

export async function mount(root, { data }) {
  const name = h("input", { name: "name", autocomplete: "username", required: true,
    maxlength: 64, autofocus: true });
  const password = h("input", { name: "password", type: "password", required: true,
    autocomplete: "current-password", maxlength: 256 });
  const error = h("p", { class: "status error", role: "alert", id: "login-error" });
  const submit = h("button", { type: "submit", class: "primary" });
  const form = h("form", { class: "card narrow", id: "login-form" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await api("POST", "/console/api/login", { name: name.value, password: password.value });
      location.href = data.next || "/console/dashboard";
    } catch (err) {
      error.textContent = errorText(err);
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  function render() {
    submit.textContent = t("login.submit");
    replace(form, field(t("login.name"), name), field(t("login.password"), password), error,
      h("div", { class: "actions" }, submit), h("p", { class: "hint" }, t("login.forgot")));
  }
  render();
  onLangChange(render);
  replace(root, form);
  name.focus();
}
