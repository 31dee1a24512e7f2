"""IT admin views: the config (secrets masked), the audit log, the log tail, diagnostics."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.audit import recent_audit
from edge.diagnostics import (
    LOG_NAME,
    build_bundle,
    config_view,
    db_stats,
    file_position,
    read_appended,
    tail_lines,
    versions,
)

from ..push import push_socket
from ..schema import Int, Schema, Str, read_query
from .context import audit, console

AUDIT_QUERY: Schema = {"target": Str(128, required=False), "before": Int(1, 2**62, required=False),
               "limit": Int(1, 500, required=False)}
LOGS_QUERY: Schema = {"lines": Int(1, 5000, required=False)}


async def api_config(request: web.Request) -> web.Response:
    config = console(request).edge.config
    return web.json_response({"source": config.source, "config": config_view(config)})


async def api_audit(request: web.Request) -> web.Response:
    query = read_query(request, AUDIT_QUERY)
    limit = query.get("limit", 100)
    entries = await recent_audit(console(request).edge.store, limit=limit,
                                 before_id=query.get("before"), target=query.get("target"))
    return web.json_response({
        "entries": [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
                     "target": e.target, "detail": e.detail} for e in entries],
        "next": entries[-1].id if len(entries) == limit else None,
    })


def _log_path(request: web.Request) -> Path:
    return console(request).edge.config.paths.log_dir / LOG_NAME


async def api_logs(request: web.Request) -> web.Response:
    state = console(request)
    lines = read_query(request, LOGS_QUERY).get("lines", state.config.log_tail_lines)
    path = _log_path(request)
    tail = await asyncio.to_thread(tail_lines, path, lines)
    return web.json_response({"file": str(path), "lines": tail})


async def _follow(path: Path, lines: int, poll_s: float) -> AsyncGenerator[dict[str, Any], None]:
    inode, offset = await asyncio.to_thread(file_position, path)
    yield {"file": str(path), "lines": await asyncio.to_thread(tail_lines, path, lines),
           "reset": True}
    while True:
        await asyncio.sleep(poll_s)
        new, inode, offset = await asyncio.to_thread(read_appended, path, inode, offset)
        if new:
            yield {"lines": new, "reset": False}


async def ws_logs(request: web.Request) -> web.WebSocketResponse:
    """Send the log's last lines, then each new line as the daemon writes it."""
    state = console(request)
    return await push_socket(request, _follow(_log_path(request), state.config.log_tail_lines,
                                              state.config.log_poll_s))


async def api_diagnostics(request: web.Request) -> web.Response:
    edge = console(request).edge
    database = await asyncio.to_thread(db_stats, edge.config.paths.database)
    return web.json_response({"versions": await asyncio.to_thread(versions),
                              "database": database})


async def api_diagnostics_zip(request: web.Request) -> web.Response:
    """Download the diagnostics bundle (a zip: no database, no secrets)."""
    edge = console(request).edge
    status = await edge.status()
    now = dt.datetime.now(dt.UTC)
    data = await asyncio.to_thread(
        build_bundle, config=edge.config, status=status, log_dir=edge.config.paths.log_dir,
        database=edge.config.paths.database, now=now)
    await audit(request, "diagnostics.downloaded", None, {"bytes": len(data)})
    name = f"storeedge-diagnostics-{edge.config.store.id}-{now:%Y%m%d-%H%M%S}.zip"
    return web.Response(body=data, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
