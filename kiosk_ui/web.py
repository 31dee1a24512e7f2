"""The kiosk site: a status page, a live lane view and a small JSON API.

The kiosk, lane and screen pages are served here; the store-IT console is a separate app on
its own address (``kiosk_ui.console``) and nothing of it is reachable from this site. Both
stand on the same foundation: error answers, security headers, page layout, WebSocket push.
It reads the domain through EdgeApp's public services and never touches SQL.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncGenerator
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge import __version__
from edge.metrics import CONTENT_TYPE

from .checkout_web import setup_checkout
from .errors import error_middleware
from .pages import setup_pages
from .push import push_socket, setup_push
from .security import security_headers

if TYPE_CHECKING:
    from edge.app import EdgeApp
    from edge.lane import LaneSession

_LOGGER = logging.getLogger(__name__)
EDGE_KEY: web.AppKey[EdgeApp] = web.AppKey("edge", t=object)  # type: ignore[arg-type]
MAX_BODY = 16 * 1024


def create_web_app(edge: EdgeApp) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[security_headers(static_prefix="/static"),
                                       error_middleware])
    app[EDGE_KEY] = edge
    setup_pages(app, "/static", styles=("base.css",))
    setup_push(app)
    app.router.add_get("/", status_page)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/lanes/{lane}", api_lane)
    app.router.add_post("/api/lanes/{lane}/cash", api_cash)
    app.router.add_post("/api/lanes/{lane}/void", api_void)
    app.router.add_post("/api/lanes/{lane}/payment/cancel", api_payment_cancel)
    app.router.add_get("/lane/{lane}", lane_page)
    app.router.add_get("/ws/lanes/{lane}", lane_socket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    setup_checkout(app, edge)   # the attendant's view, the exit page, attendant and receipt APIs
    app.router.add_static("/static", str(resources.files("kiosk_ui").joinpath("static")))
    return app


def _lane(request: web.Request) -> LaneSession:
    lane = request.app[EDGE_KEY].lanes.get(request.match_info["lane"])
    if lane is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such lane"}),
                               content_type="application/json")
    return lane


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be JSON"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


async def api_status(request: web.Request) -> web.Response:
    status = await request.app[EDGE_KEY].status()
    status["version"] = __version__
    return web.json_response(status)


async def api_lane(request: web.Request) -> web.Response:
    return web.json_response(_lane(request).snapshot())


async def api_cash(request: web.Request) -> web.Response:
    lane = _lane(request)
    request.app[EDGE_KEY].require_writable()
    tendered = (await _json_body(request)).get("tendered_fen")
    if not isinstance(tendered, int) or isinstance(tendered, bool) or not 0 < tendered < 10**9:
        raise web.HTTPBadRequest(text=json.dumps({"error": "tendered_fen must be a positive "
                                                  "integer number of fen"}),
                                 content_type="application/json")
    sale = await lane.pay_cash(tendered)
    return web.json_response({"sale_id": sale.sale_id, "receipt_no": sale.receipt_no,
                              "total_fen": sale.total_fen, "change_fen": sale.change_fen,
                              "points_earned": sale.points_earned})


async def api_void(request: web.Request) -> web.Response:
    lane = _lane(request)
    request.app[EDGE_KEY].require_writable()
    event = await lane.void("voided from the lane page")
    return web.json_response({"result": event.code})


async def api_payment_cancel(request: web.Request) -> web.Response:
    """Stop waiting for the shopper's phone: the wallet payment is reversed, the cart stays."""
    lane = _lane(request)
    event = await lane.cancel_payment()
    return web.json_response({"result": event.code, "payment": event.data})


async def _lane_updates(lane: LaneSession) -> AsyncGenerator[dict[str, Any], None]:
    updates = lane.subscribe()  # before the first snapshot, so no change falls between
    try:
        yield lane.snapshot()
        while True:
            yield await updates.get()
    finally:
        lane.unsubscribe(updates)


async def lane_socket(request: web.Request) -> web.WebSocketResponse:
    """Push the lane's state to a screen: once on connect, then after every change."""
    return await push_socket(request, _lane_updates(_lane(request)))


async def healthz(request: web.Request) -> web.Response:
    """200 only when the store takes a durable write and the event loop keeps time."""
    ok, checks = await request.app[EDGE_KEY].health()
    return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    edge = request.app[EDGE_KEY]
    edge.metrics.safe_mode.set(1 if edge.store.safe_mode else 0)
    return web.Response(body=edge.metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


async def status_page(request: web.Request) -> web.Response:
    edge = request.app[EDGE_KEY]
    status = await edge.status()
    esc = html.escape
    banner = ""
    if status["safe_mode"]:
        banner = (
            '<div class="safe"><b>安全模式 / SAFE MODE</b> — sales are refused. '
            f"{esc(status['safe_mode_reason'] or '')}<br>Restore the last backup "
            "(<code>storeedge backup</code> copies; see README, Backup and restore).</div>"
        )
    lanes = "".join(
        f'<li><a href="/lane/{esc(lane["id"])}">{esc(lane["name"])}</a> ({esc(lane["kind"])})'
        f" — {lane['items']} lines, {_yuan(lane['total_fen'])}</li>"
        for lane in status["lanes"]
    )
    devices = "".join(
        f"<li>{esc(d['device_id'])}: <b>{esc(str(d.get('state')))}</b>"
        f"{' — ' + esc(str(d['reason'])) if d.get('reason') else ''}</li>"
        for d in status["devices"]
    )
    sync = _sync_section(status["sync"])
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>StoreEdge — {esc(status['store']['name'])}</title>
<link rel="stylesheet" href="/static/base.css"></head><body>
<h1>StoreEdge — {esc(status['store']['name'])}</h1>
{banner}
<p>Store {esc(status['store']['id'])}, device {esc(status['store']['device_id'])},
version {esc(__version__)}. Database: <code>{esc(status['database'])}</code></p>
<h2>收银通道 Lanes</h2><ul>{lanes}</ul>
<h2>设备 Devices</h2><ul>{devices or '<li>none configured</li>'}</ul>
{sync}
</body></html>"""
    return web.Response(text=page, content_type="text/html")


_SYNC_WORDS = {"online": "在线 online", "degraded": "同步异常 degraded", "offline": "离线 offline"}


def _sync_section(sync: dict[str, Any]) -> str:
    """The sync state, the backlog and the refused events, as store IT reads them."""
    esc = html.escape
    age = sync.get("oldest_pending_age_s")
    rows = [
        ("待同步 Pending", f"{sync.get('pending_count')} events, "
         f"{_yuan(int(sync.get('pending_fen') or 0))}"
         + (f", oldest {age:.0f} s" if age is not None else "")),
        ("被拒 Dead letters", f"{sync.get('dead_letters')} (storeedge sync dead-letters; "
         "retry after a fix: storeedge sync retry --all)"),
        ("冲突 Conflicts", str(sync.get("conflicts"))),
        ("CRM", f"{sync.get('crm_url') or 'not paired'} as {sync.get('device_key') or '-'}"),
        ("上次成功 Last success", str(sync.get("last_success_at") or "never")),
        ("时钟偏差 Clock skew", "-" if sync.get("clock_skew_s") is None
         else f"{sync['clock_skew_s']:+.1f} s"),
    ]
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return (f'<h2>同步 Sync</h2><p id="sync" data-state="{esc(sync["state"])}">'
            f"<b>{esc(_SYNC_WORDS.get(sync['state'], sync['state']))}</b> — "
            f"{esc(sync['reason'])}</p><table>{cells}</table>")


async def lane_page(request: web.Request) -> web.Response:
    lane = _lane(request)
    page = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>Lane {html.escape(lane.lane_id)}</title>
<link rel="stylesheet" href="/static/base.css"></head>
<body data-lane="{html.escape(lane.lane_id)}">
<h1>通道 Lane {html.escape(lane.lane_id)}</h1>
<div id="sync" data-state=""></div>
<div id="member"></div>
<div id="message" role="status"></div>
<table id="cart"><thead><tr><th>商品 Item</th><th>数量 Qty</th><th>金额 Amount</th>
<th>优惠 Discount</th></tr></thead><tbody></tbody></table>
<ul id="discounts"></ul>
<p class="total">合计 Total: <span id="total">¥0.00</span></p>
<script type="module" src="/static/lane.js"></script>
</body></html>"""
    return web.Response(text=page, content_type="text/html")
