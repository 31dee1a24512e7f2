// What every shopper-facing page shares (aisle screens now, the kiosk next): the language
// toggle (back to zh-CN when nobody touches the screen), a clock in the store's time zone,
// the orientation as body[data-orientation], and the words for a lane event.
import { formatTime, lang, onLangChange, otherLang, setLang, setTimeZone, t } from "./i18n.js";

export function pageData() {
  return JSON.parse(document.getElementById("page-data")?.textContent || "null") || {};
}

function orientation() {
  document.body.dataset.orientation = innerHeight > innerWidth ? "portrait" : "landscape";
}

// Call `onIdle` after `idleMs` without a touch, click or key (and return to zh-CN first).
export function initShopper({ timeZone, idleMs = 60000, onIdle } = {}) {
  setTimeZone(timeZone);
  orientation();
  addEventListener("resize", orientation);
  const toggle = document.getElementById("lang-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => setLang(otherLang()).catch(() => {}));
    onLangChange(() => { toggle.textContent = t("common.other_lang"); });
  }
  const clock = document.getElementById("clock");
  const tick = () => { if (clock) clock.textContent = formatTime(new Date().toISOString(), { date: false }).slice(0, 5); };
  tick();
  setInterval(tick, 10000);
  let timer;
  const touched = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (lang() !== "zh-CN") await setLang("zh-CN").catch(() => {});
      onIdle?.();
    }, idleMs);
  };
  for (const name of ["pointerdown", "keydown"]) addEventListener(name, touched, { passive: true });
  touched();
}

// Show the "offline" strip while the live link is down; the page keeps its last content.
export function linkState(up) {
  const strip = document.getElementById("offline");
  if (strip) strip.hidden = up;
}

// The words for a lane event: our catalog first, then the event's own zh/en, then its text.
export function eventText(event) {
  if (!event) return "";
  const key = `event.${event.code}`;
  const translated = t(key, event.data || {});
  if (translated !== key) return translated;
  const data = event.data || {};
  return (lang() === "en" ? data.en : data.zh) || data.zh || event.message || "";
}
