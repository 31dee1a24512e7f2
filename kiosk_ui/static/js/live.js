// A WebSocket that reconnects with backoff. document.body.dataset.live says "yes" while
// connected (pages show it; tests wait for it); a banner says when the link is down.
export function connectLive(path, onMessage, { onState } = {}) {
  let socket;
  let delay = 250;
  let closed = false;
  const scheme = location.protocol === "https:" ? "wss" : "ws";

  function open() {
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => { delay = 250; document.body.dataset.live = "yes"; onState?.(true); };
    socket.onmessage = (message) => onMessage(JSON.parse(message.data));
    socket.onclose = () => {
      document.body.dataset.live = "no";
      onState?.(false);
      if (!closed) setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }
  open();
  return { close() { closed = true; socket?.close(); } };
}
