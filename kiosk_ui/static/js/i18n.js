// Messages in zh-CN (first) and English. The server embeds the page language's catalog in
// <script id="i18n-catalog">; switching language fetches the other catalog from ../i18n/,
// stores the choice in the `lang` cookie (the server renders the next page in it) and
// re-renders everything marked data-i18n, then tells the page (onLangChange) to re-render.
const embedded = document.getElementById("i18n-catalog");
let messages = embedded ? JSON.parse(embedded.textContent || "{}") : {};
let current = document.body.dataset.lang || "zh-CN";
const langs = (document.body.dataset.langs || "zh-CN,en").split(",");
const listeners = new Set();

export function lang() { return current; }

export function otherLang() { return langs.find((l) => l !== current) || current; }

export function has(key) { return Object.prototype.hasOwnProperty.call(messages, key); }

export function t(key, params = {}) {
  const template = has(key) ? messages[key] : key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    (Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole));
}

export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

async function load(name) {
  const response = await fetch(new URL(`../i18n/${name}.json`, import.meta.url));
  if (!response.ok) throw new Error(`catalog ${name}: ${response.status}`);
  return response.json();
}

export async function setLang(next) {
  if (!langs.includes(next)) return;
  const base = next === langs[0] ? {} : await load(langs[0]);
  messages = { ...base, ...(await load(next)) };
  current = next;
  document.documentElement.lang = next;
  document.body.dataset.lang = next;
  document.cookie = `lang=${next}; path=/; max-age=31536000; samesite=strict`;
  applyI18n();
  for (const listener of listeners) listener(next);
}

export function onLangChange(listener) { listeners.add(listener); }

// Times are shown in the store's time zone, whatever the browser's is.
let timeZone;
export function setTimeZone(zone) { timeZone = zone; }

export function formatTime(iso, { date = true } = {}) {
  if (!iso) return "";
  const value = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  if (Number.isNaN(value.getTime())) return String(iso);
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (date) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  if (timeZone) options.timeZone = timeZone;
  return value.toLocaleString(current === "en" ? "en-GB" : "zh-CN", options);
}
