// Users and roles: create, reset a password or PIN, change a role, disable or enable.
// The server refuses to disable or demote the last active IT admin and says so.
import { act, api, errorText } from "../../js/api.js";
import { field, h, replace, table } from "../../js/dom.js";
import { ask } from "../../js/dialog.js";
import { formatTime, onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  const status = h("p", { class: "status", role: "status", id: "users-status" });
  const holder = h("div");
  let users = [];
  let roles = [];
  const name = h("input", { name: "name", required: true, maxlength: 32, id: "new-name",
    autocomplete: "off" });
  const role = h("select", { name: "role", id: "new-role" });
  const password = h("input", { name: "password", type: "password", required: true,
    minlength: 8, maxlength: 128, id: "new-password", autocomplete: "new-password" });
  const pin = h("input", { name: "pin", inputmode: "numeric", pattern: "[0-9]{4,8}",
    maxlength: 8, id: "new-pin", autocomplete: "off" });
  const create = h("form", { class: "card", id: "create-user" });

  async function load() {
    try {
      const page = await api("GET", "/console/api/users");
      users = page.users;
      roles = page.roles;
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  async function change(path, body, userName) {
    await act(status, async () => {
      await api("POST", `/console/api/users/${encodeURIComponent(userName)}/${path}`, body);
      return t("users.saved", { name: userName });
    }, load);
  }

  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value, role: role.value, password: password.value };
    if (pin.value) body.pin = pin.value;
    await act(status, async () => {
      await api("POST", "/console/api/users", body);
      const said = t("users.created", { name: name.value });
      name.value = ""; password.value = ""; pin.value = "";
      return said;
    }, load);
  });

  function actions(user) {
    const roleOptions = roles.map((r) => [r, t(`role.${r}`)]);
    return h("td", {}, h("div", { class: "row-actions" },
      h("button", { type: "button", onclick: async () => {
        const values = await ask({ title: `${t("users.reset_password")}: ${user.name}`,
          fields: [{ name: "password", label: t("users.new_password"), type: "password",
            minlength: 8, maxlength: 128 }] });
        if (values) await change("password", { password: values.password }, user.name);
      } }, t("users.reset_password")),
      user.role !== "cashier" ? h("button", { type: "button", onclick: async () => {
        const values = await ask({ title: `${t("users.set_pin")}: ${user.name}`,
          fields: [{ name: "pin", label: t("users.new_pin"), type: "password",
            inputmode: "numeric", pattern: "[0-9]{4,8}", maxlength: 8 }] });
        if (values) await change("pin", { pin: values.pin }, user.name);
      } }, t("users.set_pin")) : null,
      user.has_pin ? h("button", { type: "button",
        onclick: () => change("pin", { pin: null }, user.name) }, t("users.clear_pin")) : null,
      h("button", { type: "button", onclick: async () => {
        const values = await ask({ title: `${t("users.change_role")}: ${user.name}`,
          fields: [{ name: "role", label: t("users.new_role"), options: roleOptions,
            value: user.role }] });
        if (values) await change("role", { role: values.role }, user.name);
      } }, t("users.change_role")),
      h("button", { type: "button", class: user.disabled ? "" : "danger",
        onclick: () => change("disabled", { disabled: !user.disabled }, user.name) },
      t(user.disabled ? "users.enable" : "users.disable"))));
  }

  function render() {
    const selected = role.value || "cashier";
    replace(role, roles.map((r) => h("option", { value: r, selected: r === selected },
      t(`role.${r}`))));
    replace(create, h("h2", {}, t("users.create")),
      h("div", { class: "inline" }, field(t("users.name"), name), field(t("users.role"), role),
        field(t("users.password"), password), field(t("users.pin_optional"), pin)),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" },
        t("users.create_submit"))));
    replace(holder, table(
      [t("users.name"), t("users.role"), t("users.status"), t("users.pin"),
        t("users.last_login"), t("users.actions")],
      users.map((u) => h("tr", { "data-user": u.name },
        h("td", {}, u.name), h("td", { class: "role" }, t(`role.${u.role}`)),
        h("td", {}, t(u.disabled ? "users.disabled" : "users.active")),
        h("td", {}, t(u.has_pin ? "users.has_pin" : "users.no_pin")),
        h("td", {}, u.last_login_at ? formatTime(u.last_login_at) : t("users.never")),
        actions(u))), { id: "users" }));
  }
  replace(root, status, holder, create);
  onLangChange(render);
  await load();
}
