// The face consent screen, for a member identified at this kiosk, only when face recognition
// runs here. Step 1 shows the store consent text of the current version (zh-CN or English as
// the screen is) with a separate accept; step 2 offers the chain-wide use as a second,
// separate consent; step 3 takes pictures from the kiosk camera. Withdrawal deletes the face
// data at once. Each answer comes back in both languages from the daemon.
import { api, ApiError } from "../js/api.js";
import { lang, t } from "../js/i18n.js";

const $ = (id) => document.getElementById(id);
const BUTTONS = ["consent_yes", "consent_chain", "consent_enrol", "consent_withdraw", "consent_no"];
const SHOWN = {
  store: ["consent_yes", "consent_withdraw", "consent_no"],
  chain: ["consent_chain", "consent_enrol", "consent_no"],
  enrol: ["consent_enrol", "consent_no"],
  done: ["consent_withdraw", "consent_no"],
};

export function makeConsent({ face, base, onClose }) {
  let step = null;

  function words(answer) {
    const data = answer?.data || answer || {};
    return (lang() === "en" ? data.en : data.zh) || answer?.message || "";
  }

  function status(text, error = false) {
    const line = $("consent-status");
    line.textContent = text;
    line.classList.toggle("error", error);
  }

  function draw() {
    if (step === null) return;
    const scope = step === "store" ? "store" : "chain";
    const text = face.texts[scope][lang() === "en" ? "en" : "zh-CN"];
    const [title, ...rest] = text.split("\n");
    $("consent-title").textContent = step === "enrol" || step === "done" ? t("kiosk.action.face") : title;
    $("consent-text").textContent = step === "enrol" || step === "done" ? "" : rest.join("\n");
    $("consent-text").hidden = step === "enrol" || step === "done";
    for (const action of BUTTONS) {
      document.querySelector(`#consent-screen [data-action="${action}"]`).hidden =
        !SHOWN[step].includes(action);
    }
    document.getElementById("consent-screen").dataset.step = step;
  }

  async function call(path, body) {
    try {
      return await api("POST", `${base}${path}`, body);
    } catch (err) {
      status(err instanceof ApiError && err.status === 0 ? t("kiosk.error.network")
        : t("kiosk.error", { message: err.message }), true);
      return null;
    }
  }

  async function record(scope) {
    const answer = await call("/face/consent", { version: face.version, scope });
    if (!answer) return;
    status(`${words(answer)} · ${t("kiosk.consent.recorded", { version: face.version })}`);
    step = scope === "store" ? "chain" : "enrol";
    draw();
  }

  async function enrol() {
    status(t("kiosk.consent.enrolling"));
    const answer = await call("/face/enrol", {});
    if (!answer) return;
    status(words(answer), !answer.ok);
    if (answer.ok) { step = "done"; draw(); }
  }

  async function withdraw() {
    const answer = await call("/face/withdraw", {});
    if (answer) { status(words(answer)); step = "done"; draw(); }
  }

  const actions = {
    consent_yes: () => record("store"),
    consent_chain: () => record("chain"),
    consent_enrol: enrol,
    consent_withdraw: withdraw,
    consent_no: () => close(),
  };

  function close() { step = null; status(""); onClose(); }

  return {
    actions,
    open() { step = "store"; status(""); draw(); },
    close,
    redraw: draw,
    isOpen: () => step !== null,
  };
}
