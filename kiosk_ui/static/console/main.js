// The console's entry module: header buttons, then the module of this page (an explicit
// registry: a page that is not listed here cannot be loaded).
import { api, errorText } from "../js/api.js";
import { applyI18n, onLangChange, otherLang, setLang, setTimeZone, t } from "../js/i18n.js";

const PAGES = {
  login: "./pages/login.js",
  setup: "./pages/setup.js",
  dashboard: "./pages/dashboard.js",
  devices: "./pages/devices.js",
  transactions: "./pages/transactions.js",
  guides: "./pages/guides.js",
  checkout: "./pages/checkout.js",
  "dead-letters": "./pages/dead_letters.js",
  "face-consents": "./pages/face_consents.js",
  users: "./pages/users.js",
  config: "./pages/config.js",
  audit: "./pages/audit.js",
  logs: "./pages/logs.js",
  diagnostics: "./pages/diagnostics.js",
  account: "./pages/account.js",
};

const data = JSON.parse(document.getElementById("page-data")?.textContent || "null") || {};
setTimeZone(data.store?.timezone);

const toggle = document.getElementById("lang-toggle");
if (toggle) {
  const label = () => { toggle.textContent = t("common.other_lang"); };
  toggle.addEventListener("click", () => setLang(otherLang()).catch(() => {}));
  onLangChange(label);
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try {
    await api("POST", "/console/api/logout", {});
  } catch (err) {
    console.warn(errorText(err));
  }
  location.href = "/console/login";
});

export function banner(text) {
  const el = document.getElementById("banner");
  if (!el) return;
  el.hidden = !text;
  el.textContent = text || "";
}

const page = document.body.dataset.page;
const app = document.getElementById("app");
if (PAGES[page] && app) {
  const module = await import(PAGES[page]);
  await module.mount(app, { data, banner });
  applyI18n();
  document.body.dataset.ready = "yes";
}
