"""Errors as people see them: JSON for scripts, a friendly page for browsers, never a trace.

One middleware turns every failure into an answer: our ``ApiError``, aiohttp's own HTTP errors
(404, 405, 413 ...), the domain's exceptions (through one registry dict) and anything
unexpected (logged with its traceback and an id the answer quotes, so store IT can find it).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from edge.errors import EdgeError, LaneError, SaleRefused
from edge.login_limits import LoginLocked
from edge.users import UserConflict, UserInputError, UserNotFound

from .pages import error_page

_LOGGER = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Most specific first: the first class in an exception's MRO found here gives its status.
DOMAIN_STATUS: dict[type[Exception], int] = {
    UserInputError: 400,
    UserNotFound: 404,
    UserConflict: 409,
    LaneError: 409,
    SaleRefused: 409,
    EdgeError: 503,
}


class ApiError(Exception):
    """An answer with a status, a message for people and a stable ``code`` for scripts."""

    def __init__(self, status: int, message: str, code: str = "error", *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}
        self.extra = extra


def wants_json(request: web.Request) -> bool:
    """Scripts get JSON: API and socket paths, non-GET requests, or an Accept for JSON."""
    if "/api/" in request.path or "/ws/" in request.path or request.path.startswith("/api"):
        return True
    if request.method not in ("GET", "HEAD"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def respond(request: web.Request, status: int, message: str, code: str = "error", *,
            headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    if wants_json(request):
        response = web.json_response({"error": message, "code": code, **extra}, status=status)
    else:
        response = error_page(request, status, message)
    response.headers.update(headers or {})
    return response


def _domain_status(err: Exception) -> int | None:
    for cls in type(err).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure clearly; log the unexpected ones with their traceback."""
    try:
        return await handler(request)
    except ApiError as err:
        return respond(request, err.status, err.message, err.code, headers=err.headers,
                       **err.extra)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        keep = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return respond(request, exc.status, exc.reason, f"http_{exc.status}", headers=keep)
    except LoginLocked as err:
        return respond(request, 429, str(err), "locked", minutes=err.minutes,
                       retry_after_s=err.retry_after_s,
                       headers={"Retry-After": str(err.retry_after_s)})
    except Exception as err:
        status = _domain_status(err)
        if status is not None:
            return respond(request, status, str(err), type(err).__name__)
        error_id = secrets.token_hex(4)
        _LOGGER.exception("Unexpected error %s on %s %s", error_id, request.method,
                          request.path)
        return respond(request, 500, f"internal error {error_id}; see the daemon log",
                       "internal", error_id=error_id)
