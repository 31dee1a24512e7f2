"""The kiosk site: status page, lane pages (cashier or live view), aisle screens, JSON API.

The kiosk, lane and screen pages are served here; the store-IT console is a separate app on
its own address (``kiosk_ui.console``) and nothing of it is reachable from this site. Both
stand on the same foundation: error answers, security headers, page layout, WebSocket push.
Every route is declared once in ``kiosk_routes()`` with who may call it (``site_access``);
a route added any other way is refused. It reads the domain through EdgeApp's public
services and never touches SQL.
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

from . import cashier_api, cashier_money, cashier_page, screens
from .checkout_web import checkout_routes, setup_checkout
from .errors import ApiError, error_middleware
from .kiosk_api import kiosk_api_routes
from .kiosk_page import kiosk_page, setup_kiosk
from .loyalty_api import loyalty_routes
from .pages import setup_pages
from .push import push_socket, setup_push
from .security import security_headers
from .site_access import (
    EDGE_KEY,
    Access,
    SiteRoute,
    add_site_routes,
    add_site_static,
    site_access_middleware,
)

if TYPE_CHECKING:
    from edge.app import EdgeApp
    from edge.lane import LaneSession

_LOGGER = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
OPEN, SHOPPER, CASHIER = Access.OPEN, Access.SHOPPER, Access.CASHIER


def kiosk_routes() -> list[SiteRoute]:
    """Return every route of the kiosk site with who may call it (see ``site_access``)."""
    lane = "/api/lanes/{lane}"
    return [
        SiteRoute("GET", "/", status_page, OPEN),
        SiteRoute("GET", "/api/status", api_status, OPEN),
        SiteRoute("GET", "/healthz", healthz, OPEN),
        SiteRoute("GET", "/metrics", metrics, OPEN),
        SiteRoute("GET", "/lane/{lane}", lane_page, OPEN),
        SiteRoute("GET", "/kiosk/{lane}", kiosk_page, OPEN),
        SiteRoute("GET", "/ws/lanes/{lane}", lane_socket, OPEN),
        SiteRoute("GET", lane, api_lane, OPEN),
        SiteRoute("GET", f"{lane}/scans/{{scan}}", api_scan_outcome, OPEN),
        SiteRoute("POST", f"{lane}/cash", cashier_api.api_cash, SHOPPER),
        SiteRoute("POST", f"{lane}/void", cashier_api.api_void, SHOPPER),
        SiteRoute("POST", f"{lane}/payment/cancel", cashier_api.api_payment_cancel, SHOPPER),
        # The cashier lane (docs/lanes.md):
        SiteRoute("POST", f"{lane}/signin", cashier_api.api_signin, OPEN),
        SiteRoute("POST", f"{lane}/signout", cashier_api.api_signout, CASHIER),
        SiteRoute("POST", f"{lane}/keyed", cashier_api.api_keyed, CASHIER),
        SiteRoute("POST", f"{lane}/lines/{{line}}/quantity", cashier_api.api_quantity, CASHIER),
        SiteRoute("POST", f"{lane}/lines/{{line}}/void", cashier_api.api_void_line, CASHIER),
        SiteRoute("POST", f"{lane}/lines/{{line}}/price", cashier_api.api_price, CASHIER),
        SiteRoute("POST", f"{lane}/suspend", cashier_api.api_suspend, CASHIER),
        SiteRoute("GET", f"{lane}/suspended", cashier_api.api_suspended, CASHIER),
        SiteRoute("POST", f"{lane}/resume", cashier_api.api_resume, CASHIER),
        SiteRoute("POST", f"{lane}/shift/open", cashier_money.api_shift_open, CASHIER),
        SiteRoute("POST", f"{lane}/shift/x", cashier_money.api_x_report, CASHIER),
        SiteRoute("POST", f"{lane}/shift/z", cashier_money.api_z_report, CASHIER),
        SiteRoute("POST", f"{lane}/drawer", cashier_money.api_drawer, CASHIER),
        SiteRoute("GET", f"{lane}/refunds/lookup", cashier_money.api_refund_lookup, CASHIER),
        SiteRoute("POST", f"{lane}/refunds", cashier_money.api_refund, CASHIER),
        *screens.screen_routes(),
        # Members, coupons, points and stored value (docs/loyalty.md):
        *loyalty_routes(lambda request: request.app[EDGE_KEY], _lane),
        # Self-checkout: attendant, exit station, receipts (docs/checkout.md):
        *checkout_routes(),
        # The self-checkout page's own (docs/kiosk.md):
        *kiosk_api_routes(),
    ]


def create_web_app(edge: EdgeApp) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[security_headers(static_prefix="/static"),
                                       error_middleware, site_access_middleware])
    app[EDGE_KEY] = edge
    setup_pages(app, "/static", styles=("base.css",))
    setup_push(app)
    add_site_routes(app, kiosk_routes())
    add_site_static(app, "/static", str(resources.files("kiosk_ui").joinpath("static")))
    screens.setup_screens(app, edge)
    setup_checkout(app, edge)  # the attendant view's live feed
    setup_kiosk(edge)
    return app


def _lane(request: web.Request) -> LaneSession:
    lane = request.app[EDGE_KEY].lanes.get(request.match_info["lane"])
    if lane is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such lane"}),
                               content_type="application/json")
    return lane


async def api_status(request: web.Request) -> web.Response:
    status = await request.app[EDGE_KEY].status()
    status["version"] = __version__
    return web.json_response(status)


async def api_lane(request: web.Request) -> web.Response:
    return web.json_response(_lane(request).snapshot())


async def api_scan_outcome(request: web.Request) -> web.Response:
    """The lane's state with the latest event of one recent scan (``storeedge scan``)."""
    lane = _lane(request)
    event = lane.scan_outcome(request.match_info["scan"])
    if event is None:
        raise ApiError(404, "no such recent scan at this lane", "no_scan")
    return web.json_response({**lane.snapshot(), "last_event": event})


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
        + (f' <a href="/kiosk/{esc(lane["id"])}">自助收银 kiosk</a>'
           if lane["kind"] == "kiosk" else "")
        + f" — {lane['items']} lines, {_yuan(lane['total_fen'])}</li>"
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
{_screens_section(edge)}
<h2>设备 Devices</h2><ul>{devices or '<li>none configured</li>'}</ul>
{sync}
</body></html>"""
    return web.Response(text=page, content_type="text/html")


def _screens_section(edge: EdgeApp) -> str:
    """Links to the aisle screens of the config and to the guides' view."""
    screens = edge.config.signage.screens
    if not screens:
        return ""
    esc = html.escape
    items = "".join(f'<li><a href="/screen/{esc(s.zone)}">{esc(s.name)}</a> ({esc(s.zone)})</li>'
                    for s in screens)
    return (f'<h2>屏幕 Screens</h2><ul>{items}<li><a href="/guides">导购呼叫 Guide calls</a>'
            "</li></ul>")


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
    """A staffed lane's cashier page; a kiosk lane's live view for staff (the shopper's page
    is ``/kiosk/{lane}``; this one stays a plain watcher, and the benchmark's baseline)."""
    lane = _lane(request)
    if request.app[EDGE_KEY].cashier.staffed(lane.lane_id):
        return await cashier_page.cashier_page(request)
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
