// The guides' view: calls from the aisle screens as they come, answered with one button.
import { api, errorText } from "../js/api.js";
import { h, replace } from "../js/dom.js";
import { applyI18n, formatTime, onLangChange, otherLang, setLang, setTimeZone, t } from "../js/i18n.js";
import { connectLive } from "../js/live.js";

const data = JSON.parse(document.getElementById("page-data")?.textContent || "null") || {};
setTimeZone(data.store?.timezone);
let calls = data.guides?.calls || [];

async function answer(call, button) {
  button.disabled = true;
  try {
    await api("POST", `/api/guides/${encodeURIComponent(call.id)}/ack`, {});
  } catch (err) {
    button.disabled = false;
    button.textContent = errorText(err);
  }
}

function render() {
  const list = document.getElementById("calls");
  document.getElementById("guides-empty").hidden = calls.length > 0;
  replace(list, calls.map((call) => {
    const waiting = !call.acked_at;
    const button = waiting ? h("button", { type: "button", "data-call": call.id }, t("guides.answer")) : null;
    button?.addEventListener("click", () => answer(call, button));
    return h("li", { class: waiting ? "waiting" : "answered", "data-call": call.id },
      h("span", { class: "zone" }, call.zone_name),
      h("span", {}, t("guides.called_at", { time: formatTime(call.called_at, { date: false }) })),
      h("span", { class: "state" }, waiting ? t("guides.waiting")
        : t("guides.answered", { by: call.acked_by, time: formatTime(call.acked_at, { date: false }) })),
      button);
  }));
  document.body.dataset.waiting = String(calls.filter((c) => !c.acked_at).length);
}

const toggle = document.getElementById("lang-toggle");
toggle.addEventListener("click", () => setLang(otherLang()).catch(() => {}));
onLangChange(() => { toggle.textContent = t("common.other_lang"); applyI18n(); render(); });
render();
connectLive("/ws/guides", (view) => { calls = view.calls; render(); });
document.body.dataset.ready = "yes";
