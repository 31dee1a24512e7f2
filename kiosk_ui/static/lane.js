// Minimal live lane view: polls the lane's JSON and renders it as text (never as HTML).
const lane = document.body.dataset.lane;
const yuan = (fen) => `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function render(state) {
  const body = document.querySelector("#cart tbody");
  body.replaceChildren(...state.lines.map((line) => {
    const tr = document.createElement("tr");
    const qty = line.weight_g ? `${(line.weight_g / 1000).toFixed(3)} kg` : String(line.qty);
    tr.append(cell(line.name), cell(qty), cell(yuan(line.base_fen)),
              cell(line.discount_fen ? `-${yuan(line.discount_fen)}` : ""));
    return tr;
  }));
  document.querySelector("#discounts").replaceChildren(...state.discounts.map((d) => {
    const li = document.createElement("li");
    li.textContent = `${d.label}: -${yuan(d.amount_fen)}`;
    return li;
  }));
  document.querySelector("#total").textContent = yuan(state.total_fen);
  const message = document.querySelector("#message");
  const event = state.last_event;
  message.textContent = event ? event.message : "";
  message.className = event && !event.ok ? "error" : "";
}

async function poll() {
  try {
    const response = await fetch(`/api/lanes/${encodeURIComponent(lane)}`);
    if (response.ok) render(await response.json());
  } catch (err) {
    document.querySelector("#message").textContent = "连接中断 / reconnecting…";
  }
  setTimeout(poll, 500);
}
poll();
