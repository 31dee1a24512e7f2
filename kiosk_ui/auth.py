"""Who may call what: one declarative route table, enforced by one middleware.

Every route of a protected app is declared with the role it needs (or ``PUBLIC``) through
``add_routes``; the middleware looks the matched route up on every request and refuses a route
that is missing from the table, so an endpoint added by hand is closed, not open. It also
checks the session cookie, the same-origin rule for anything that changes state or opens a
socket, and the per-session CSRF token (in a header, compared in constant time).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from edge.sessions import Session, Sessions
from edge.users import Role, role_allows

from .errors import ApiError, wants_json
from .security import same_origin

_LOGGER = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COOKIE = "storeedge_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC: Role | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint and the least role that may call it (``PUBLIC``: anyone)."""

    method: str
    path: str
    handler: Handler
    role: Role | None


@dataclass(frozen=True, slots=True)
class AuthSettings:
    sessions: Sessions
    cookie_path: str
    login_path: str
    secure_cookie: bool
    trusted_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()


AccessTable = dict[tuple[str, str], Role | None]
ACCESS_KEY: web.AppKey[AccessTable] = web.AppKey("access_table", dict)
AUTH_KEY: web.AppKey[AuthSettings] = web.AppKey("auth_settings", AuthSettings)
SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session", object)  # type: ignore[arg-type]


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Register ``routes`` and their roles; the table is the only way in."""
    table = app.setdefault(ACCESS_KEY, {})
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        table[(route.method, route.path)] = route.role


def add_static(app: web.Application, prefix: str, folder: Path) -> None:
    """Serve ``folder`` under ``prefix`` to anyone (assets hold no data)."""
    app.router.add_static(prefix, folder, follow_symlinks=False, show_index=False)
    table = app.setdefault(ACCESS_KEY, {})
    table[("GET", prefix)] = table[("HEAD", prefix)] = PUBLIC


def route_key(request: web.Request) -> tuple[str, str] | None:
    """Return (method, route path) of the matched route, or None when nothing matched."""
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return None
    return info.route.method, info.route.resource.canonical


def current_session(request: web.Request) -> Session | None:
    session: Session | None = request.get(SESSION_KEY)
    return session


def require_session(request: web.Request) -> Session:
    session = current_session(request)
    if session is None:  # the middleware lets no protected route get here without one
        raise ApiError(401, "sign in first", "signin")
    return session


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    settings = request.app[AUTH_KEY]
    response.set_cookie(COOKIE, token, path=settings.cookie_path, httponly=True,
                        samesite="Strict", secure=settings.secure_cookie or None)


def clear_session_cookie(response: web.StreamResponse, request: web.Request) -> None:
    settings = request.app[AUTH_KEY]
    response.del_cookie(COOKIE, path=settings.cookie_path, secure=settings.secure_cookie or None,
                        httponly=True, samesite="Strict")


def _is_socket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _host_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return host.lower().strip("[]") in {h.lower().strip("[]") for h in allowed}


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the route table, the session, the role, the origin and the CSRF token."""
    settings = request.app[AUTH_KEY]
    if not _host_allowed(request, settings.allowed_hosts):
        raise ApiError(400, "this console does not answer to that host name", "host")
    key = route_key(request)
    if key is None:
        return await handler(request)  # aiohttp answers 404/405 for what matched nothing
    table = request.app[ACCESS_KEY]
    if key not in table:
        _LOGGER.error("Route %s %s is not in the console's access table; refused", *key)
        raise ApiError(403, "this address is not open to any role", "not_in_table")
    need = table[key]
    token = request.cookies.get(COOKIE, "")
    session = await settings.sessions.lookup(token) if token else None
    request[SESSION_KEY] = session
    changes_state = request.method not in SAFE_METHODS
    if (changes_state or _is_socket(request)) and not same_origin(request,
                                                                   settings.trusted_origins):
        raise ApiError(403, "refused: the request came from another site", "origin")
    if need is None:  # PUBLIC
        return await handler(request)
    if session is None:
        if wants_json(request):
            raise ApiError(401, "sign in first", "signin", signin=settings.login_path)
        return web.Response(status=303, headers={
            "Location": f"{settings.login_path}?next={quote(request.path_qs, safe='/')}"})
    if not role_allows(session.user.role, need):
        raise ApiError(403, f"this needs the {need} role", "role", need=str(need))
    if changes_state:
        sent = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(sent, session.csrf_token.encode()):
            raise ApiError(403, "missing or wrong CSRF token; reload the page", "csrf")
    return await handler(request)
