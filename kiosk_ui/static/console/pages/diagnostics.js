// Diagnostics: versions and database statistics, and the bundle to send for help.
import { api, errorText } from "../../js/api.js";
import { h, replace, table } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  let page = null;
  let error = "";
  try {
    page = await api("GET", "/console/api/diagnostics");
  } catch (err) {
    error = errorText(err);
  }
  function render() {
    const download = h("a", { href: "/console/api/diagnostics.zip", class: "button primary",
      id: "download", download: "" }, t("diag.download"));
    if (!page) return replace(root, h("p", {}, t("diag.intro")), download,
      h("p", { class: "error" }, error));
    const v = page.versions;
    const db = page.database;
    return replace(root, h("p", {}, t("diag.intro")), h("div", { class: "actions" }, download),
      h("section", { class: "card" }, h("h2", {}, t("diag.versions")),
        table(["", ""], [["storeedge", v.storeedge], ["python", v.python], ["sqlite", v.sqlite],
          ["platform", v.platform], ...Object.entries(v.libraries)].map(([name, version]) =>
          h("tr", {}, h("td", {}, name), h("td", {}, version ?? "–"))), { id: "versions" })),
      h("section", { class: "card" }, h("h2", {}, t("diag.database")),
        h("p", { id: "integrity" }, t("diag.integrity", { result: db.integrity || db.error || "?" })),
        table([t("diag.files"), t("diag.bytes")], Object.entries(db.file_bytes || {}).map(
          ([name, size]) => h("tr", {}, h("td", {}, name), h("td", {}, String(size))))),
        table([t("diag.table"), t("diag.rows")], Object.entries(db.tables || {}).map(
          ([name, rows]) => h("tr", {}, h("td", {}, name), h("td", {}, String(rows)))),
        { id: "tables" }),
        h("h3", {}, t("diag.migrations")),
        h("ul", {}, (db.migrations || []).map((m) => h("li", {}, m.name)))));
  }
  render();
  onLangChange(render);
}
