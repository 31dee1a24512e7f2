// The daemon's log, live: the last lines, then every new line as it is written.
import { h, replace } from "../../js/dom.js";
import { onLangChange, t } from "../../js/i18n.js";
import { connectLive } from "../../js/live.js";

const KEEP = 2000;

export async function mount(root) {
  let file = "";
  let lines = [];
  let paused = false;
  const pre = h("pre", { class: "code log", id: "log", tabindex: "0" });
  const info = h("p", { class: "muted" });
  const pause = h("button", { type: "button", id: "log-pause" });
  pause.addEventListener("click", () => { paused = !paused; render(); });

  function render() {
    info.textContent = file ? t("logs.file", { file }) : "";
    pause.textContent = t(paused ? "logs.resume" : "logs.pause");
    if (paused) return;
    pre.textContent = lines.length ? lines.join("\n") : t("logs.empty");
    pre.scrollTop = pre.scrollHeight;
  }
  replace(root, info, h("div", { class: "actions" }, pause), pre);
  render();
  onLangChange(render);
  connectLive("/console/ws/logs", (message) => {
    if (message.file) file = message.file;
    lines = (message.reset ? message.lines : lines.concat(message.lines)).slice(-KEEP);
    pre.dataset.lines = String(lines.length);
    render();
  });
}
