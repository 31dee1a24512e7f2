"""Devices: status, last seen, reason, and the Test button."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from drivers.base import TestResult
from edge.diagnostics import plain

from ..errors import ApiError
from ..schema import read_json
from .context import audit, console

if TYPE_CHECKING:
    from edge.app import EdgeApp

_LOGGER = logging.getLogger(__name__)


async def run_device_test(edge: EdgeApp, device_id: str, timeout_s: float) -> TestResult:
    """Run one device's Test action, bounded by ``timeout_s``; never raises."""
    driver = edge.devices.get(device_id)
    if driver is None:
        reason = edge.device_errors.get(device_id)
        return TestResult(False, f"not running: {reason}" if reason else "not running")
    try:
        # The drivers work adds EdgeApp.test_device(device_id); this line becomes that call.
        return await asyncio.wait_for(driver.test(), timeout_s)
    except TimeoutError:
        return TestResult(False, f"no answer within {timeout_s:g} s")
    except Exception as err:
        _LOGGER.exception("Test of device %s failed", device_id)
        return TestResult(False, f"test failed: {err}")


async def api_devices(request: web.Request) -> web.Response:
    status = await console(request).edge.status()
    return web.json_response({"devices": plain(status["devices"])})


async def api_test_device(request: web.Request) -> web.Response:
    await read_json(request, {})
    state = console(request)
    device_id = request.match_info["device"]
    if device_id not in {d.id for d in state.edge.config.devices}:
        raise ApiError(404, f"no device {device_id[:40]!r} in the config", "no_device")
    result = await run_device_test(state.edge, device_id, state.config.device_test_timeout_s)
    await audit(request, "device.tested", f"device:{device_id}",
                {"ok": result.ok, "message": result.message[:200]})
    return web.json_response({"device_id": device_id, "ok": result.ok,
                              "message": result.message, "detail": plain(result.detail)})
