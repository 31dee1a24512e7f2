"""The CRM's admin API (``/admin/...``), for the chain's staff and for tests: bearer token only.

    POST   /admin/pairing-codes                 {"store_id", "device_id"?, "ttl_s"?}
    GET|PUT|PATCH|DELETE /admin/{products|promotions|coupons|members|coupon-rules|guides}/{key}
    POST   /admin/members/{id}/adjustments      {"balance", "delta", "reason"}
    GET    /admin/members/{id}/ledger
    PUT    /admin/allowances/{device_key}/{kind}
           {"limit_fen", "per_transaction_fen", "expires_at"?}
    GET    /admin/devices | /admin/rejections | /admin/conflicts
    GET    /admin/events?device=&after=&limit=
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..protocol import ProtocolError, loads_strict
from .admin import (
    AdminError,
    adjust_member,
    create_pairing_code,
    delete_entity,
    get_entity,
    save_entity,
    set_allowance,
)
from .exit_keys import add_exit_routes

if TYPE_CHECKING:
    from .server import Crm

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOUNS = {"products": "catalog", "promotions": "promotions", "coupons": "coupons",
         "members": "members", "coupon-rules": "coupon_rules", "guides": "guides"}


def add_admin_routes(app: web.Application, crm: Crm) -> None:
    def guarded(handler: Callable[[web.Request, Crm], Awaitable[web.StreamResponse]]) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            _check_token(request, crm.settings.admin_token)
            return await handler(request, crm)
        return wrapper

    r = app.router
    r.add_post("/admin/pairing-codes", guarded(_pairing_code))
    r.add_get("/admin/devices", guarded(_devices))
    r.add_get("/admin/events", guarded(_events))
    r.add_get("/admin/rejections", guarded(_rejections))
    r.add_get("/admin/conflicts", guarded(_conflicts))
    r.add_post("/admin/members/{key}/adjustments", guarded(_adjust))
    r.add_get("/admin/members/{key}/ledger", guarded(_ledger))
    r.add_put("/admin/allowances/{device}/{kind}", guarded(_allowance))
    add_exit_routes(app, crm, guarded)
    for noun in NOUNS:
        r.add_get(f"/admin/{noun}/{{key}}", guarded(_get))
        r.add_put(f"/admin/{noun}/{{key}}", guarded(_save))
        r.add_patch(f"/admin/{noun}/{{key}}", guarded(_save))
        r.add_delete(f"/admin/{noun}/{{key}}", guarded(_delete))


def _check_token(request: web.Request, token: str | None) -> None:
    if not token:
        raise AdminError(403, "admin_disabled", "the admin API is off (no admin token set)")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise AdminError(401, "bad_token", "missing or wrong admin token")


async def _body(request: web.Request) -> dict[str, Any]:
    value = loads_strict(await request.read())
    if not isinstance(value, dict):
        raise ProtocolError("the body must be a JSON object")
    return value


def _stream(request: web.Request) -> str:
    return NOUNS[request.path.split("/")[2]]


async def _pairing_code(request: web.Request, crm: Crm) -> web.Response:
    body = await _body(request)
    store_id, device_id = body.get("store_id"), body.get("device_id")
    ttl = body.get("ttl_s", crm.settings.pairing_ttl_s)
    if not isinstance(store_id, str) or not isinstance(device_id, str | None) or \
            not isinstance(ttl, int) or not 60 <= ttl <= 7 * 86400:
        raise ProtocolError("need store_id (string), optional device_id and ttl_s (60-604800)")
    code = await crm.store.write(lambda c: create_pairing_code(c, store_id, device_id, ttl))
    return web.json_response(code, status=201)


async def _get(request: web.Request, crm: Crm) -> web.Response:
    stream, key = _stream(request), request.match_info["key"]
    found = await crm.store.read(lambda c: get_entity(c, stream, key))
    if found is None:
        raise AdminError(404, "not_found", f"no {stream} entry {key}")
    return web.json_response(found)


async def _save(request: web.Request, crm: Crm) -> web.Response:
    stream, key = _stream(request), request.match_info["key"]
    body = await _body(request)
    partial = request.method == "PATCH"
    saved = await crm.store.write(lambda c: save_entity(c, stream, key, body, partial=partial))
    return web.json_response(saved)


async def _delete(request: web.Request, crm: Crm) -> web.Response:
    stream, key = _stream(request), request.match_info["key"]
    await crm.store.write(lambda c: delete_entity(c, stream, key))
    return web.json_response({"deleted": key})


async def _adjust(request: web.Request, crm: Crm) -> web.Response:
    key, body = request.match_info["key"], await _body(request)
    delta, balance, reason = body.get("delta"), body.get("balance"), body.get("reason", "adjust")
    if type(delta) is not int or not isinstance(balance, str) or not isinstance(reason, str):
        raise ProtocolError("need balance (points|stored_value), delta (integer), reason")
    member = await crm.store.write(lambda c: adjust_member(c, key, balance, delta, reason))
    return web.json_response(member)


async def _ledger(request: web.Request, crm: Crm) -> web.Response:
    key = request.match_info["key"]
    rows = await crm.store.fetchall(
        "SELECT entry_id, balance, delta, reason, event_id, at FROM member_ledger"
        " WHERE member_id = ? ORDER BY rowid", (key,))
    return web.json_response([dict(r) for r in rows])


async def _allowance(request: web.Request, crm: Crm) -> web.Response:
    device, kind, body = request.match_info["device"], request.match_info["kind"], \
        await _body(request)
    row = await crm.store.write(lambda c: set_allowance(c, device, kind, body))
    return web.json_response(row)


async def _devices(_request: web.Request, crm: Crm) -> web.Response:
    rows = await crm.store.fetchall("SELECT device_key, store_id, device_id, acked_through_seq,"
                                    " paired_at, last_seen_at FROM devices ORDER BY device_key")
    return web.json_response([dict(r) for r in rows])


async def _events(request: web.Request, crm: Crm) -> web.Response:
    try:
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "1000")), 10_000)
    except ValueError:
        raise ProtocolError("after and limit must be integers") from None
    device = request.query.get("device", "")

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        cur = conn.execute(
            "SELECT device_key, seq, event_id, type, occurred_at, body, received_at"
            " FROM events WHERE (? = '' OR device_key = ?) AND seq > ? ORDER BY device_key, seq"
            " LIMIT ?", (device, device, after, limit))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    return web.json_response(await crm.store.read(read))


async def _rejections(_request: web.Request, crm: Crm) -> web.Response:
    rows = await crm.store.fetchall("SELECT * FROM rejections ORDER BY device_key, seq")
    return web.json_response([dict(r) for r in rows])


async def _conflicts(_request: web.Request, crm: Crm) -> web.Response:
    rows = await crm.store.fetchall("SELECT * FROM conflicts ORDER BY id")
    return web.json_response([dict(r) for r in rows])
