// Dead letters: events the CRM refused, kept aside so the queue moved on; retry one or all
// once the cause is fixed (a product the CRM did not know, a member merged, ...).
import { act, api, errorText } from "../../js/api.js";
import { h, replace, table } from "../../js/dom.js";
import { formatTime, onLangChange, t } from "../../js/i18n.js";

export async function mount(root) {
  const status = h("p", { class: "status", role: "status", id: "dl-status" });
  const holder = h("div");
  let page = null;

  async function load() {
    try {
      page = await api("GET", "/console/api/dead-letters");
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }

  async function retry(eventId) {
    await act(status, async () => {
      await api("POST", "/console/api/dead-letters/retry", { event_id: eventId });
      return t("dl.retried", { event: eventId });
    }, load);
  }

  async function retryAll() {
    await act(status, async () => {
      const result = await api("POST", "/console/api/dead-letters/retry-all", {});
      return t("dl.retried_all", { count: result.retried });
    }, load);
  }

  function render() {
    if (!page) return replace(holder, h("p", {}, t("common.loading")));
    if (!page.configured) {
      return replace(holder, h("p", { class: "muted", id: "dl-not-configured" },
        t("dl.not_configured")));
    }
    if (!page.dead_letters.length) {
      return replace(holder, h("p", { class: "muted", id: "dl-none" }, t("dl.none")));
    }
    return replace(holder,
      h("div", { class: "actions" }, h("button", { type: "button", id: "retry-all",
        onclick: retryAll }, t("dl.retry_all"))),
      table([t("dl.event"), t("dl.type"), t("dl.reason"), t("dl.failed_at"), t("dl.attempts"), ""],
        page.dead_letters.map((d) => h("tr", { "data-event": d.event_id },
          h("td", {}, d.event_id), h("td", {}, d.type), h("td", {}, d.reason),
          h("td", {}, formatTime(d.failed_at)), h("td", {}, String(d.attempts)),
          h("td", {}, h("button", { type: "button", onclick: () => retry(d.event_id) },
            t("dl.retry"))))), { id: "dead-letters" }));
  }
  replace(root, status, holder);
  onLangChange(render);
  await load();
}
