"""Pages backed by other parts through Protocols: sync's dead letters, face consents.

``EdgeApp.dead_letters`` / ``EdgeApp.face_consents`` are None until those parts are connected;
the pages then say so instead of failing. The implementations audit their own changes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.ports import DeadLetterQueue, FaceConsentRegistry

from ..errors import ApiError
from ..schema import Int, Schema, Str, read_json, read_query
from .context import actor, console

ID = r"[A-Za-z0-9_.:-]+"
DEAD_QUERY: Schema = {"before": Int(1, 2**62, required=False), "limit": Int(1, 500, required=False)}
RETRY: Schema = {"event_id": Str(128, pattern=ID)}
FACE_QUERY: Schema = {"member": Str(64, required=False)}
FACE_DELETE: Schema = {"member_id": Str(64, pattern=ID)}


def _dead_letters(request: web.Request) -> DeadLetterQueue | None:
    return console(request).edge.dead_letters


def _faces(request: web.Request) -> FaceConsentRegistry | None:
    return console(request).edge.face_consents


def _not_configured(part: str) -> ApiError:
    return ApiError(409, f"{part} is not configured on this appliance", "not_configured")


async def api_dead_letters(request: web.Request) -> web.Response:
    query = read_query(request, DEAD_QUERY)
    queue = _dead_letters(request)
    if queue is None:
        return web.json_response({"configured": False, "dead_letters": [], "next": None})
    limit = query.get("limit", 100)
    rows = await queue.list_dead_letters(limit=limit, before_seq=query.get("before"))
    items: list[dict[str, Any]] = [
        {"event_id": d.event_id, "seq": d.seq, "type": d.type, "reason": d.reason,
         "failed_at": d.failed_at, "attempts": d.attempts} for d in rows]
    return web.json_response({"configured": True, "dead_letters": items,
                              "next": items[-1]["seq"] if len(items) == limit else None})


async def api_retry_dead_letter(request: web.Request) -> web.Response:
    body = await read_json(request, RETRY)
    queue = _dead_letters(request)
    if queue is None:
        raise _not_configured("sync")
    if not await queue.retry_dead_letter(body["event_id"], actor=actor(request)):
        raise ApiError(404, "no such dead letter (already retried?)", "no_dead_letter")
    return web.json_response({"ok": True, "event_id": body["event_id"]})


async def api_retry_all_dead_letters(request: web.Request) -> web.Response:
    await read_json(request, {})
    queue = _dead_letters(request)
    if queue is None:
        raise _not_configured("sync")
    count = await queue.retry_all_dead_letters(actor=actor(request))
    return web.json_response({"ok": True, "retried": count})


async def api_face_consents(request: web.Request) -> web.Response:
    query = read_query(request, FACE_QUERY)
    registry = _faces(request)
    if registry is None:
        return web.json_response({"configured": False, "consents": []})
    member = query.get("member")
    consents = [
        {"member_id": c.member_id, "version": c.version, "scope": c.scope,
         "recorded_at": c.recorded_at, "device": c.device, "templates": c.templates}
        for c in await registry.list_consents()
        if member is None or member.casefold() in c.member_id.casefold()]
    return web.json_response({"configured": True, "consents": consents[:1000],
                              "total": len(consents)})


async def api_delete_face_data(request: web.Request) -> web.Response:
    body = await read_json(request, FACE_DELETE)
    registry = _faces(request)
    if registry is None:
        raise _not_configured("face recognition")
    if not await registry.delete_member_face_data(body["member_id"], actor(request)):
        raise ApiError(404, "this member has no face data", "no_face_data")
    return web.json_response({"ok": True, "member_id": body["member_id"]})
