"""Who may call what on the kiosk site: one route table, enforced by one middleware.

Every route of the kiosk site (kiosk, lane and screen pages, their APIs and sockets) is declared
with ``SiteRoute`` and one of three access levels; a route missing from the table is refused,
so an endpoint added by hand is closed, not open:

- ``OPEN``: anyone who reaches the site (pages, snapshots, sockets, health, the screens).
- ``SHOPPER``: on a kiosk lane, open (the kiosk page on that lane); on a staffed lane, only the
  cashier signed in at that lane.
- ``CASHIER``: only the cashier signed in at that (staffed) lane.

Anything that changes state must come from our own pages (Origin/Referer when a browser sends
one) with a JSON body; a cashier's requests also carry the lane sign-in's CSRF token. The
lane sign-in cookie (``storeedge_lane_<lane>``) is separate from the console's: another
cookie, another table, valid for one lane only.
"""

from __future__ import annotations

import enum
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from edge.cashier import SignIn

from .auth import CSRF_HEADER, SAFE_METHODS, route_key
from .errors import ApiError
from .security import same_origin

if TYPE_CHECKING:
    from edge.app import EdgeApp

_LOGGER = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COOKIE_PREFIX = "storeedge_lane_"


class Access(enum.StrEnum):
    OPEN = "open"
    SHOPPER = "shopper"
    CASHIER = "cashier"


@dataclass(frozen=True, slots=True)
class SiteRoute:
    method: str
    path: str
    handler: Handler
    access: Access


SiteTable = dict[tuple[str, str], Access]
SITE_TABLE_KEY: web.AppKey[SiteTable] = web.AppKey("site_access_table", dict)
SIGNIN_KEY: web.RequestKey[SignIn | None] = web.RequestKey("lane_signin", object)  # type: ignore[arg-type]
EDGE_KEY: web.AppKey[EdgeApp] = web.AppKey("edge", t=object)  # type: ignore[arg-type]


def add_site_routes(app: web.Application, routes: Iterable[SiteRoute]) -> None:
    """Register ``routes`` with their access level; the table is the only way in."""
    table = app.setdefault(SITE_TABLE_KEY, {})
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        table[(route.method, route.path)] = route.access


def add_site_static(app: web.Application, prefix: str, folder: str) -> None:
    app.router.add_static(prefix, folder, follow_symlinks=False, show_index=False)
    table = app.setdefault(SITE_TABLE_KEY, {})
    table[("GET", prefix)] = table[("HEAD", prefix)] = Access.OPEN


def cookie_name(lane_id: str) -> str:
    return COOKIE_PREFIX + lane_id


def signin_of(request: web.Request) -> SignIn:
    """Return the cashier the middleware let through (only on SHOPPER/CASHIER routes)."""
    signin: SignIn | None = request.get(SIGNIN_KEY)
    if signin is None:
        raise ApiError(401, "a cashier must sign in at this lane", "signin",
                       signin=f"/lane/{request.match_info.get('lane', '')}")
    return signin


def _is_socket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


@web.middleware
async def site_access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the table, the same-origin rule, the lane sign-in and its CSRF token."""
    key = route_key(request)
    if key is None:
        return await handler(request)   # aiohttp answers 404/405 for what matched nothing
    table = request.app[SITE_TABLE_KEY]
    if key not in table:
        _LOGGER.error("Route %s %s is not in the kiosk site's access table; refused", *key)
        raise ApiError(403, "this address is not open to anyone", "not_in_table")
    changes_state = request.method not in SAFE_METHODS
    if (changes_state or _is_socket(request)) and not same_origin(request):
        raise ApiError(403, "refused: the request came from another site", "origin")
    access = table[key]
    request[SIGNIN_KEY] = None
    if access is Access.OPEN:
        return await handler(request)
    edge = request.app[EDGE_KEY]
    lane_id = request.match_info.get("lane", "")
    if lane_id not in edge.lanes:
        raise ApiError(404, "no such lane", "no_lane")
    staffed = edge.cashier.staffed(lane_id)
    if access is Access.SHOPPER and not staffed:
        return await handler(request)
    if not staffed:
        raise ApiError(409, "this is a self-checkout lane: it has no cashier", "not_staffed")
    signin = await edge.cashier.signed_in(lane_id, request.cookies.get(cookie_name(lane_id), ""))
    if signin is None:
        raise ApiError(401, "a cashier must sign in at this lane", "signin",
                       signin=f"/lane/{lane_id}")
    if changes_state:
        sent = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(sent, signin.csrf_token.encode()):
            raise ApiError(403, "missing or wrong CSRF token; reload the page", "csrf")
    request[SIGNIN_KEY] = signin
    return await handler(request)
