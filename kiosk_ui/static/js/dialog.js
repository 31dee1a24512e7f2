// A modal form in a native <dialog>: focus moves into it, Escape cancels, Enter submits.
import { field, h } from "./dom.js";
import { t } from "./i18n.js";

export function ask({ title, message, fields = [], confirm = t("common.confirm") }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => f.options
      ? h("select", { name: f.name }, f.options.map(([value, label]) =>
        h("option", { value, selected: value === f.value }, label)))
      : h("input", { name: f.name, type: f.type || "text", required: f.required !== false,
        autocomplete: "off", inputmode: f.inputmode, minlength: f.minlength,
        maxlength: f.maxlength, pattern: f.pattern, value: f.value }));
    const form = h("form", { method: "dialog" },
      h("h2", {}, title),
      message ? h("p", {}, message) : null,
      fields.map((f, i) => field(f.label, inputs[i])),
      h("div", { class: "actions" },
        h("button", { type: "submit", value: "ok", class: "primary" }, confirm),
        h("button", { type: "button", value: "cancel",
          onclick: () => dialog.close("cancel") }, t("common.cancel"))));
    const dialog = h("dialog", { class: "ask" }, form);
    dialog.addEventListener("close", () => {
      const values = Object.fromEntries(inputs.map((input) => [input.name, input.value]));
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
