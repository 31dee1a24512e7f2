// Live lane view: the daemon pushes the lane's state over a WebSocket after every change.
// Everything is rendered as text (never as HTML), so a product named <script> shows as text.
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
    tr.dataset.product = line.product_id;
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
  document.querySelector("#member").textContent = state.member ? `会员 ${state.member.name}` : "";
  document.querySelector("#total").textContent = yuan(state.total_fen);
  const message = document.querySelector("#message");
  const event = state.last_event;
  message.textContent = event ? event.message : "";
  message.className = event && !event.ok ? "error" : "";
  // The last scan drawn; an event of no scan after it (a receipt printed) leaves it.
  if (event && event.scan_id) document.body.dataset.scan = event.scan_id;
  const sync = state.sync || { state: "offline", reason: "" };
  const words = { online: "在线", degraded: "同步异常", offline: "离线" }[sync.state] || sync.state;
  const syncLine = document.querySelector("#sync");
  syncLine.textContent = sync.state === "online" ? words : `${words}: ${sync.reason}`;
  syncLine.dataset.state = sync.state;
}

function connect(delay) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/lanes/${encodeURIComponent(lane)}`);
  socket.onopen = () => { document.body.dataset.live = "yes"; delay = 250; };
  socket.onmessage = (msg) => render(JSON.parse(msg.data));
  socket.onclose = () => {
    document.body.dataset.live = "no";
    document.querySelector("#message").textContent = "连接中断，正在重连… / reconnecting…";
    setTimeout(() => connect(Math.min(delay * 2, 5000)), delay);
  };
}
connect(250);
