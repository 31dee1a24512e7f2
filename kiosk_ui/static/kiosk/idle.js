// The kiosk's idle rules (timers from the page data, i.e. the [kiosk] config):
// - the receipt screen goes back to attract after receipt_ms (the sale is paid: nothing voids);
// - an unpaid cart with nobody touching or scanning for idle_ms asks "still there?"; with no
//   answer within still_there_ms the cart is voided and the attract screen comes back;
// - a member left on an empty cart is forgotten after idle_ms, so no one inherits them.
// Never while the lane is locked or a payment is running: those wait for their own end.
import { t } from "../js/i18n.js";

const $ = (id) => document.getElementById(id);

export function makeIdle({ config, current, onVoid, onForget, onReceiptDone, onConsentDone }) {
  let lastActive = Date.now();
  let screenSince = Date.now();
  let screen = null;
  let askedAt = null;

  function hideQuestion() {
    askedAt = null;
    $("still-there").hidden = true;
    document.body.dataset.stillThere = "no";
  }

  function activity() {
    lastActive = Date.now();
    if (askedAt !== null) hideQuestion();
  }

  function ask(now) {
    askedAt = now;
    $("still-there").hidden = false;
    document.body.dataset.stillThere = "yes";
  }

  function tick() {
    const now = Date.now();
    const { snapshot, name } = current();
    if (name !== screen) { screen = name; screenSince = now; }
    if (!snapshot || snapshot.locked || snapshot.intervention || snapshot.payment) {
      lastActive = now;
      if (askedAt !== null) hideQuestion();
      return;
    }
    const idle = now - lastActive;
    if (name === "receipt") {
      if (now - Math.max(screenSince, lastActive) >= config.receipt_ms) onReceiptDone();
      return;
    }
    if (name === "consent") {
      if (idle >= config.idle_ms) onConsentDone();
      return;
    }
    if (snapshot.lines.length) {
      if (askedAt === null && idle >= config.idle_ms) ask(now);
      if (askedAt !== null) {
        const left = config.still_there_ms - (now - askedAt);
        $("still-there-count").textContent = t("kiosk.idle.count",
          { seconds: Math.max(0, Math.ceil(left / 1000)) });
        if (left <= 0) { hideQuestion(); lastActive = now; onVoid(); }
      }
      return;
    }
    if (askedAt !== null) hideQuestion();
    if (snapshot.member && idle >= config.idle_ms) { lastActive = now; onForget(); }
  }

  $("still-here").addEventListener("click", activity);
  for (const name of ["pointerdown", "keydown"]) addEventListener(name, activity, { passive: true });
  setInterval(tick, 250);
  return { activity };
}
