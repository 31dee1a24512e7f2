// The attendant lock: while the lane has an intervention the whole screen says why, in big
// type, until an attendant scans a badge (that arrives through the scanner) or types a
// supervisor PIN on the pad here. A wrong PIN says so and the lock holds.
import { api, ApiError } from "../js/api.js";
import { replace } from "../js/dom.js";
import { lang, t } from "../js/i18n.js";
import { buildPad, closeKeypads } from "./keypad.js";

const $ = (id) => document.getElementById(id);

function words(item) {
  if (!item) return "";
  return (lang() === "en" ? item.en : item.zh) || item.zh || item.en || "";
}

export function makeLock({ base }) {
  let shownFor = null;
  let pad = null;

  function refusal(err) {
    if (err instanceof ApiError && (err.body.zh || err.body.en)) return words(err.body);
    if (err instanceof ApiError && err.status === 0) return t("kiosk.error.network");
    return t("kiosk.error", { message: err?.message || String(err) });
  }

  async function submit(pin) {
    $("lock-message").textContent = "";
    try {
      await api("POST", `${base}/intervention/clear`, { kind: "pin", secret: pin });
    } catch (err) {
      $("lock-message").textContent = refusal(err);
    }
    pad?.reset();
  }

  function openPad() {
    pad = buildPad({ length: 8, exact: false, mask: true, label: t("kiosk.lock.pin"),
      onOk: submit });
    replace($("pinpad"), pad);
    $("lock-staff").hidden = true;
  }

  $("lock-staff").addEventListener("click", openPad);

  // Draw the lock for `snapshot`; return whether the lane is locked.
  return function render(snapshot) {
    const intervention = snapshot.intervention || null;
    const locked = Boolean(snapshot.locked || intervention);
    const lock = $("lock");
    lock.hidden = !locked;
    document.body.dataset.locked = locked ? "yes" : "no";
    if (!locked) {
      if (shownFor !== null) {
        shownFor = null;
        pad = null;
        replace($("pinpad"));
        $("lock-staff").hidden = false;
        $("lock-message").textContent = "";
      }
      return false;
    }
    const id = intervention?.id || "locked";
    if (shownFor !== id) {   // a new intervention: a fresh screen, any open dialog closed
      shownFor = id;
      closeKeypads();
      $("lock-message").textContent = "";
    }
    lock.dataset.reason = intervention?.reason || "locked";
    const text = words(intervention) || t("kiosk.lock.locked");
    if ($("lock-reason").textContent !== text) $("lock-reason").textContent = text;
    return true;
  };
}
