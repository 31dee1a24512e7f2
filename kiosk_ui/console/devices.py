"""Devices: status, last seen, reason, and the Test button."""

from __future__ import annotations

from aiohttp import web

from edge.diagnostics import plain

from ..errors import ApiError
from ..schema import read_json
from .context import audit, console


async def api_devices(request: web.Request) -> web.Response:
    status = await console(request).edge.status()
    return web.json_response({"devices": plain(status["devices"])})


async def api_test_device(request: web.Request) -> web.Response:
    await read_json(request, {})
    state = console(request)
    device_id = request.match_info["device"]
    if device_id not in {d.id for d in state.edge.config.devices}:
        raise ApiError(404, f"no device {device_id[:40]!r} in the config", "no_device")
    result = await state.edge.test_device(device_id, state.config.device_test_timeout_s)
    await audit(request, "device.tested", f"device:{device_id}",
                {"ok": result.ok, "message": result.message[:200]})
    return web.json_response({"device_id": device_id, "ok": result.ok,
                              "message": result.message, "detail": plain(result.detail)})
