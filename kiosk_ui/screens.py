"""Aisle screens ``/screen/{zone}`` and the guides' view ``/guides``, live over WebSockets.

A screen rotates its zone's products, promotions and coupons (with a QR to claim each coupon
into the wallet) and has a "call a guide" button; ``/guides`` lists the calls and answers
them. Each zone's content is one ``Feed`` shared by every screen of the zone, recomputed on
the refresh interval and whenever a call changes. Screens identify nobody: they send nothing
but the button press, and no camera serves them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge.guide_calls import GuideCall

from .errors import ApiError
from .html import el, join
from .pages import render_page, t
from .push import Feed, push_socket
from .qr import QrCache
from .schema import Schema, Str, read_json, read_query
from .security import client_address
from .shopper import shopper_page
from .site_access import EDGE_KEY, Access, SiteRoute

if TYPE_CHECKING:
    from edge.app import EdgeApp

_LOGGER = logging.getLogger(__name__)
ACK: Schema = {"name": Str(32, required=False, pattern=r"[^\x00-\x1f]{1,32}")}


class ScreensState:
    """The live views of the kiosk site's screens: one feed per zone, one for the guides."""

    def __init__(self, edge: EdgeApp) -> None:
        self.edge = edge
        self.qr = QrCache()
        signage = edge.config.signage
        self.zones = {
            screen.zone: Feed(f"screen:{screen.zone}", self._computer(screen.zone),
                              signage.refresh_s)
            for screen in signage.screens}
        self.guides = Feed("guides", self.guides_view, signage.refresh_s)

    def _computer(self, zone: str) -> Any:
        async def compute() -> dict[str, Any]:
            return await self.zone_view(zone)
        return compute

    async def zone_view(self, zone: str) -> dict[str, Any]:
        content = await self.edge.screens.compute(zone)
        slides = [{**s, "qr": self.qr.get(s["claim_url"])} if s["kind"] == "coupon" else s
                  for s in content["slides"]]
        call = await self.edge.guide_calls.open_call(zone)
        return {**content, "slides": slides, "call": None if call is None else call.as_dict()}

    async def guides_view(self) -> dict[str, Any]:
        names = {s.zone: s.name for s in self.edge.config.signage.screens}
        calls = await self.edge.guide_calls.recent()
        return {"calls": [{**c.as_dict(), "zone_name": names.get(c.zone, c.zone)}
                          for c in calls]}

    def changed(self, zone: str) -> None:
        feed = self.zones.get(zone)
        if feed is not None:
            feed.poke()
        self.guides.poke()

    def feeds(self) -> list[Feed]:
        return [*self.zones.values(), self.guides]


SCREENS_KEY: web.AppKey[ScreensState] = web.AppKey("screens", ScreensState)


def setup_screens(app: web.Application, edge: EdgeApp) -> None:
    """Give the kiosk site its screen feeds, started and stopped with it."""
    state = app[SCREENS_KEY] = ScreensState(edge)

    async def feeds(_app: web.Application) -> AsyncIterator[None]:
        for feed in state.feeds():
            await feed.start()
        unsubscribe = edge.guide_calls.on_change(state.changed)
        yield
        unsubscribe()
        for feed in state.feeds():
            await feed.stop()

    app.cleanup_ctx.append(feeds)


def _feed(request: web.Request) -> tuple[str, Feed]:
    zone = request.match_info["zone"]
    feed = request.app[SCREENS_KEY].zones.get(zone)
    if feed is None:
        raise ApiError(404, f"no screen for zone {zone[:32]!r} in the config", "no_zone")
    return zone, feed


async def screen_page(request: web.Request) -> web.Response:
    zone, feed = _feed(request)
    edge = request.app[EDGE_KEY]
    screen = edge.config.signage.screen(zone)
    assert screen is not None
    main = join(
        el("section", {"id": "stage", "class": "stage", "aria-live": "polite"}),
        el("div", {"class": "actions"},
           el("button", {"type": "button", "id": "call-guide", "class": "call"},
              t(request, "screen.call"))),
        el("p", {"id": "call-state", "class": "call-state", "role": "status"}))
    return shopper_page(
        request, title=f"{screen.name} — {edge.config.store.name}", page="screen",
        main=main, store_name=edge.config.store.name, scripts=("screen/screen.js",),
        styles=("screen/screen.css",),
        data={"zone": zone, "name": screen.name, "content": await feed.current(),
              "store": {"timezone": edge.config.store.timezone}})


async def api_screen(request: web.Request) -> web.Response:
    read_query(request, {})
    _zone, feed = _feed(request)
    return web.json_response(await feed.current())


async def screen_socket(request: web.Request) -> web.WebSocketResponse:
    _zone, feed = _feed(request)
    return await push_socket(request, feed.watch())


async def api_call_guide(request: web.Request) -> web.Response:
    """A shopper pressed "call a guide": one open call per zone, however often pressed."""
    zone, _ = _feed(request)
    await read_json(request, {})
    call, made = await request.app[EDGE_KEY].guide_calls.call(zone)
    return web.json_response({"call": call.as_dict(), "new": made}, status=201 if made else 200)


async def guides_page(request: web.Request) -> web.Response:
    edge = request.app[EDGE_KEY]
    body = join(
        el("header", {"class": "bar"},
           el("span", {"class": "brand"}, "StoreEdge"),
           el("h1", {"data-i18n": "guides.title"}, t(request, "guides.title")),
           el("button", {"type": "button", "id": "lang-toggle", "class": "quiet"},
              t(request, "common.other_lang"))),
        el("main", {"id": "main"},
           el("p", {"id": "guides-empty", "data-i18n": "guides.none", "hidden": True},
              t(request, "guides.none")),
           el("ul", {"id": "calls", "class": "calls"})))
    return render_page(request, title=f"{t(request, 'guides.title')} — {edge.config.store.name}",
                       page="guides", body=body, scripts=("screen/guides.js",),
                       styles=("base.css", "screen/guides.css"),
                       data={"store": {"timezone": edge.config.store.timezone},
                             "guides": await request.app[SCREENS_KEY].guides.current()})


async def api_guides(request: web.Request) -> web.Response:
    read_query(request, {})
    return web.json_response(await request.app[SCREENS_KEY].guides.current())


async def guides_socket(request: web.Request) -> web.WebSocketResponse:
    return await push_socket(request, request.app[SCREENS_KEY].guides.watch())


async def api_ack(request: web.Request) -> web.Response:
    """A guide answers a call (audited with the name typed, else the device's address)."""
    body = await read_json(request, ACK)
    call_id = request.match_info["call"]
    if not (call_id.isascii() and call_id.isalnum() and len(call_id) <= 32):
        raise ApiError(400, "call: not a call id", "bad_field", field="call")
    by = body.get("name") or f"guide@{client_address(request)}"
    call: GuideCall | None = await request.app[EDGE_KEY].guide_calls.acknowledge(call_id, by=by)
    if call is None:
        raise ApiError(404, "no such call", "no_call")
    return web.json_response({"call": call.as_dict()})


def screen_routes() -> list[SiteRoute]:
    """The screens' and guides' routes: all open (they show nothing about anyone)."""
    o = Access.OPEN
    return [
        SiteRoute("GET", "/screen/{zone}", screen_page, o),
        SiteRoute("GET", "/api/screens/{zone}", api_screen, o),
        SiteRoute("GET", "/ws/screens/{zone}", screen_socket, o),
        SiteRoute("POST", "/api/screens/{zone}/call", api_call_guide, o),
        SiteRoute("GET", "/guides", guides_page, o),
        SiteRoute("GET", "/api/guides", api_guides, o),
        SiteRoute("GET", "/ws/guides", guides_socket, o),
        SiteRoute("POST", "/api/guides/{call}/ack", api_ack, o),
    ]
