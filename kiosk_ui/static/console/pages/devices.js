// Devices: state, last seen and reason, refreshed every few seconds; Test runs the device's
// own check (print a test receipt, show the last scan, grab a frame) and shows the answer.
import { api, errorText } from "../../js/api.js";
import { h, replace, table } from "../../js/dom.js";
import { formatTime, has, onLangChange, t } from "../../js/i18n.js";

export async function mount(root, { data }) {
  let devices = [];
  const results = new Map();
  const status = h("p", { class: "status", role: "status" });
  const holder = h("div");

  async function test(deviceId, button) {
    results.set(deviceId, { pending: true });
    render();
    button.disabled = true;
    try {
      results.set(deviceId, await api("POST",
        `/console/api/devices/${encodeURIComponent(deviceId)}/test`, {}));
    } catch (err) {
      results.set(deviceId, { ok: false, message: errorText(err) });
    }
    render();
  }

  function resultCell(deviceId) {
    const result = results.get(deviceId);
    if (!result) return h("td", { "data-test-result": "" });
    if (result.pending) return h("td", { "data-test-result": "pending" }, t("dev.testing"));
    return h("td", { "data-test-result": result.ok ? "ok" : "failed",
      class: result.ok ? "ok" : "error" },
    t(result.ok ? "dev.test_ok" : "dev.test_failed", { message: result.message }));
  }

  function render() {
    if (!devices.length) {
      replace(holder, h("p", { class: "muted" }, t("dev.none")));
      return;
    }
    replace(holder, table(
      [t("dev.id"), t("dev.driver"), t("dev.state"), t("dev.last_seen"), t("dev.reason"),
        t("dev.test"), ""],
      devices.map((d) => {
        const button = h("button", { type: "button", "data-device": d.device_id },
          t("dev.test"));
        button.addEventListener("click", () => test(d.device_id, button));
        const stateKey = `state.${d.state}`;
        return h("tr", { "data-device": d.device_id },
          h("td", {}, d.device_id), h("td", {}, d.driver || ""),
          h("td", { class: `state ${d.state}` }, has(stateKey) ? t(stateKey) : d.state),
          h("td", {}, d.last_seen ? formatTime(d.last_seen) : t("dev.never")),
          h("td", {}, d.reason || ""), h("td", {}, button), resultCell(d.device_id));
      }), { id: "devices" }));
  }

  async function refresh() {
    try {
      devices = (await api("GET", "/console/api/devices")).devices;
      status.textContent = "";
    } catch (err) {
      status.textContent = errorText(err);
    }
    render();
  }
  replace(root, status, holder);
  onLangChange(render);
  await refresh();
  setInterval(refresh, Math.max(1, data.push_interval_s || 5) * 1000);
}
