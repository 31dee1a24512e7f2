"""Self-checkout on the kiosk site: the attendant's live view, the exit page and the lane APIs.

    GET  /attendant                          which kiosk needs an attendant, and why (live)
    GET  /ws/attendant                       that list, pushed on every change
    GET  /exit/{lane}                        the exit station: PASS / FAIL in big letters
    POST /api/lanes/{lane}/attendant         {"reason_text"?}   the shopper's call button
    POST /api/lanes/{lane}/intervention/clear {"kind": "badge"|"pin", "secret"}
    POST /api/lanes/{lane}/reprint           {"sale_id"}        audited

The exit page reads the lane's own socket (``/ws/lanes/{lane}``): its snapshot carries
``exit``. Bodies are strict (``schema.read_json``); a refused badge or PIN is a 403 (429 when
locked out) whose body says why in both languages, and the lock holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .cashier_api import edge_of, event_json, lane_of
from .errors import ApiError
from .html import el, join
from .pages import render_page, t
from .push import Feed, push_socket
from .schema import Str, read_json
from .security import client_address
from .site_access import Access, SiteRoute

if TYPE_CHECKING:
    from edge.app import EdgeApp
    from edge.lane import LaneEvent

ATTENDANT_FEED: web.AppKey[Feed] = web.AppKey("attendant_feed", Feed)
_REFUSAL_STATUS = {"locked": 429, "nothing_to_clear": 409}
_WATCHED = frozenset({"intervention_raised", "intervention_cleared", "audit_rescan",
                      "sale_completed", "cart_voided"})

CALL_BODY = {"reason_text": Str(200, min_len=0, required=False)}
CLEAR_BODY = {"kind": Str(5, pattern=r"badge|pin"), "secret": Str(80)}
REPRINT_BODY = {"sale_id": Str(64, pattern=r"[A-Za-z0-9_.:-]+")}


def setup_checkout(app: web.Application, edge: EdgeApp) -> None:
    """Start the attendant view's feed; its routes are in ``checkout_routes``."""
    feed = Feed("attendant", _compute(edge), interval_s=5.0)
    app[ATTENDANT_FEED] = feed

    def poke(_lane: str, event: LaneEvent) -> None:
        if event.code in _WATCHED:
            feed.poke()

    for lane in edge.lanes.values():
        lane.observe(poke)

    async def running(_app: web.Application) -> AsyncIterator[None]:
        await feed.start()
        yield
        await feed.stop()

    app.cleanup_ctx.append(running)


def checkout_routes() -> list[SiteRoute]:
    """Return the attendant view, the exit page and the lane's attendant and receipt APIs."""
    lane = "/api/lanes/{lane}"
    return [
        SiteRoute("GET", "/attendant", attendant_page, Access.OPEN),
        SiteRoute("GET", "/ws/attendant", attendant_socket, Access.OPEN),
        SiteRoute("GET", "/exit/{lane}", exit_page, Access.OPEN),
        SiteRoute("POST", f"{lane}/attendant", api_call_attendant, Access.SHOPPER),
        # The badge or PIN in the body is what authorises clearing (rate limited, audited).
        SiteRoute("POST", f"{lane}/intervention/clear", api_clear, Access.SHOPPER),
        SiteRoute("POST", f"{lane}/reprint", api_reprint, Access.SHOPPER),
    ]


def _compute(edge: EdgeApp) -> Any:
    async def compute() -> dict[str, Any]:
        return edge.checkout.attendant_view()
    return compute


async def api_call_attendant(request: web.Request) -> web.Response:
    lane = lane_of(request)
    edge_of(request).require_writable()
    body = await read_json(request, CALL_BODY)
    event = await lane.call_attendant(body.get("reason_text", ""))
    return web.json_response(event_json(event))


async def api_clear(request: web.Request) -> web.Response:
    """Clear the lane's current intervention with a badge id or a supervisor PIN."""
    lane = lane_of(request)
    edge_of(request).require_writable()
    body = await read_json(request, CLEAR_BODY)
    event = await lane.clear_intervention(body["secret"], body["kind"],
                                          address=client_address(request))
    if event.code == "attendant_refused":
        reason = str(event.data.get("reason"))
        status = _REFUSAL_STATUS.get(reason, 403)
        raise ApiError(status, event.message, reason, zh=event.data.get("zh"),
                       en=event.data.get("en"))
    return web.json_response(event_json(event))


async def api_reprint(request: web.Request) -> web.Response:
    lane = lane_of(request)
    body = await read_json(request, REPRINT_BODY)
    event = await lane.reprint(body["sale_id"], f"lane:{lane.lane_id}")
    return web.json_response({**event_json(event), "printed": event.code == "receipt_printed"})


async def _attendant_updates(feed: Feed) -> AsyncIterator[dict[str, Any]]:
    async for value in feed.watch():
        yield value


async def attendant_socket(request: web.Request) -> web.WebSocketResponse:
    return await push_socket(request, _attendant_updates(request.app[ATTENDANT_FEED]))


async def attendant_page(request: web.Request) -> web.Response:
    edge = edge_of(request)
    body = el("main", {"id": "main", "class": "attendant"},
              el("h1", None, t(request, "attendant.title")),
              el("p", {"id": "live", "class": "muted", "role": "status"}),
              el("ul", {"id": "waiting", "aria-live": "polite"}),
              el("p", {"id": "none", "class": "calm", "hidden": True},
                 t(request, "attendant.none")))
    return render_page(request, title=t(request, "attendant.title"), body=body,
                       page="attendant", scripts=("attendant.js",),
                       styles=("base.css", "checkout.css"),
                       data={"store": {"name": edge.config.store.name,
                                       "timezone": edge.config.store.timezone}})


async def exit_page(request: web.Request) -> web.Response:
    lane = lane_of(request)
    edge = edge_of(request)
    kind = next((lc.kind for lc in edge.config.lanes if lc.id == lane.lane_id), "")
    if kind != "exit":
        raise ApiError(404, f"lane {lane.lane_id} is not an exit", "not_exit")
    body = el("main", {"id": "main", "class": "exit", "data-lane": lane.lane_id},
              join(el("h1", {"class": "exit-name"}, t(request, "exit.title")),
                   el("div", {"id": "verdict", "class": "verdict idle", "role": "status",
                              "aria-live": "assertive"}, t(request, "exit.idle")),
                   el("p", {"id": "reason", "class": "reason"}),
                   el("p", {"id": "sale", "class": "sale"}),
                   el("ol", {"id": "rescan", "class": "rescan"})))
    return render_page(request, title=t(request, "exit.title"), body=body, page="exit",
                       scripts=("exit.js",), styles=("base.css", "checkout.css"),
                       data={"lane": lane.lane_id})
