"""The dashboard: sync, today's sales and digitisation rate, per-hour chart, devices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge.cart import utc_now
from edge.errors import EdgeError
from edge.reports import today_summary

from ..push import push_socket
from .context import console

if TYPE_CHECKING:
    from edge.app import EdgeApp

HEALTHY = ("idle", "busy")


async def compute_dashboard(edge: EdgeApp) -> dict[str, Any]:
    """Return everything the dashboard shows, in one JSON-ready dict."""
    status = await edge.status()
    today: dict[str, Any] | None = None
    today_error: str | None = None
    try:
        today = await today_summary(edge.store, edge.config.store.timezone)
    except EdgeError as err:
        today_error = str(err)
    devices = status["devices"]
    return {
        "generated_at": utc_now(),
        "store": status["store"],
        "safe_mode": status["safe_mode"],
        "safe_mode_reason": status["safe_mode_reason"],
        "started_at": status.get("started_at"),
        "loop_lag_s": status.get("loop_lag_s"),
        "today": today,
        "today_error": today_error,
        "devices": {
            "total": len(devices),
            "ok": sum(1 for d in devices if d.get("state") in HEALTHY),
            "problems": [{"device_id": d["device_id"], "state": d.get("state"),
                          "reason": d.get("reason")}
                         for d in devices if d.get("state") not in HEALTHY],
        },
        "lanes": status["lanes"],
        # The sync work adds this block; without it the page says sync is not configured.
        "sync": status.get("sync"),
    }


async def api_dashboard(request: web.Request) -> web.Response:
    return web.json_response(await console(request).dashboard.current())


async def ws_dashboard(request: web.Request) -> web.WebSocketResponse:
    """Push the dashboard on every change, and every ``push_interval_s`` regardless."""
    return await push_socket(request, console(request).dashboard.watch())
