"""HTTP hardening every site shares: response headers, same-origin checks, the peer address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Pages load only their own scripts, styles and sockets; nothing inline, nothing remote, no
# framing. 'self' covers ws:/wss: to the same host in current browsers.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def security_headers(*, static_prefix: str, tls: bool = False) -> Callable[..., Awaitable[
        web.StreamResponse]]:
    """Return a middleware adding the hardening headers (and no-store outside static files)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if not request.path.startswith(static_prefix + "/"):
            headers.setdefault("Cache-Control", "no-store")
        if tls:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return middleware


def own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}".lower()


def same_origin(request: web.Request, trusted: Sequence[str] = ()) -> bool:
    """Return whether a request comes from our own pages (Origin, else Referer).

    Browsers send Origin on every POST and WebSocket upgrade; a request with neither header
    comes from a tool, not from a page another site could have planted.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    origin = origin.lower()
    return origin != "null" and (origin == own_origin(request) or origin in trusted)


def client_address(request: web.Request) -> str:
    """Return the peer's address (no proxy headers are trusted: the console is not proxied)."""
    return (request.remote or "unknown")[:64]
