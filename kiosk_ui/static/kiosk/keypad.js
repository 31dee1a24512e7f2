// A touch number pad: big keys for a phone number, its last 4 digits or an attendant's PIN.
// `buildPad` is the pad itself (the lock screen holds one); `askDigits` shows one in a modal
// <dialog> and resolves with the digits, or null when the shopper cancels.
import { h } from "../js/dom.js";
import { t } from "../js/i18n.js";

export function buildPad({ length = 11, exact = true, mask = false, label = "", onOk }) {
  let value = "";
  const display = h("output", { class: "pad-display", "aria-live": "polite", "aria-label": label });
  const ok = h("button", { type: "button", class: "key ok", "data-key": "ok" }, t("kiosk.keypad.ok"));
  function show() {
    display.textContent = mask ? "•".repeat(value.length) : value;
    ok.disabled = exact ? value.length !== length : value.length === 0;
  }
  function press(key) {
    if (/^[0-9]$/.test(key) && value.length < length) value += key;
    else if (key === "back") value = value.slice(0, -1);
    else if (key === "clear") value = "";
    else if (key === "ok" && !ok.disabled) { onOk(value); return; }
    show();
  }
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "back"].map((key) =>
    h("button", { type: "button", class: `key k-${key}`, "data-key": key,
      onclick: () => press(key) },
    key === "clear" ? t("kiosk.keypad.clear") : key === "back" ? "⌫" : key));
  ok.addEventListener("click", () => press("ok"));
  const pad = h("div", { class: "pad" }, display, h("div", { class: "keys" }, keys), ok);
  pad.press = press;
  pad.reset = () => { value = ""; show(); };
  show();
  return pad;
}

// Ask for digits in a modal; Escape or "cancel" resolves null.
export function askDigits({ title, message = "", length = 11, exact = true, mask = false }) {
  return new Promise((resolve) => {
    let result = null;
    const pad = buildPad({ length, exact, mask, label: title,
      onOk: (value) => { result = value; dialog.close("ok"); } });
    const dialog = h("dialog", { class: "keypad" },
      h("h2", {}, title),
      message ? h("p", { class: "pad-message" }, message) : null,
      pad,
      h("button", { type: "button", class: "big quiet", "data-key": "cancel",
        onclick: () => dialog.close("cancel") }, t("common.cancel")));
    dialog.addEventListener("keydown", (event) => {
      if (/^[0-9]$/.test(event.key)) pad.press(event.key);
      else if (event.key === "Backspace") pad.press("back");
      else if (event.key === "Enter") pad.press("ok");
      else return;
      event.preventDefault();
    });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Close every open keypad (the lane locked, or the shopper walked away).
export function closeKeypads() {
  for (const dialog of document.querySelectorAll("dialog.keypad[open]")) dialog.close("cancel");
}
