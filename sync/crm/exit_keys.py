"""The CRM's exit-token keys and tokens: rotate and retire keys, issue tokens for paid sales.

The public keys reach every edge through the ``exit_keys`` change stream, which is how an exit
station checks tokens without asking anyone. Rotation: ``POST /admin/exit-keys`` makes a new
key the one that signs; the old one stays published so tokens already issued still pass, and
is retired (``DELETE /admin/exit-keys/{id}``) once the longest token lifetime has gone by —
or at once, when it leaked: its tombstone reaches the edges with the next pull.

    GET    /admin/exit-keys                   the published keys (public halves)
    POST   /admin/exit-keys                   rotate: a new signing key
    DELETE /admin/exit-keys/{key_id}          retire a key
    POST   /admin/exit-tokens {"sale_id", "ttl_s"?}   a token for a sale the CRM holds
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from edge.exit_tokens import MAX_TTL_S, ExitClaims, b64url, key_id, sign_token

from ..protocol import ProtocolError, loads_strict
from .admin import AdminError
from .db import next_version

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .server import Crm

STREAM = "exit_keys"
DEFAULT_TTL_S = 900


def _iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def rotate_key(conn: sqlite3.Connection) -> dict[str, Any]:
    """Make a new signing key; the previous one stays published until retired."""
    private = Ed25519PrivateKey.generate()
    kid, now = key_id(private.public_key()), _iso(dt.datetime.now(dt.UTC))
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    conn.execute("UPDATE exit_keys SET active = 0 WHERE active = 1")
    conn.execute("INSERT INTO exit_keys (key_id, public_key, private_key, active, created_at,"
                 " updated_at, version) VALUES (?, ?, ?, 1, ?, ?, ?)",
                 (kid, b64url(private.public_key().public_bytes_raw()), pem, now, now,
                  next_version(conn, STREAM)))
    return {"key_id": kid, "public_key": b64url(private.public_key().public_bytes_raw()),
            "created_at": now, "active": True}


def retire_key(conn: sqlite3.Connection, kid: str) -> None:
    cur = conn.execute("UPDATE exit_keys SET deleted = 1, active = 0, version = ?,"
                       " updated_at = ? WHERE key_id = ? AND deleted = 0",
                       (next_version(conn, STREAM), _iso(dt.datetime.now(dt.UTC)), kid))
    if cur.rowcount == 0:
        raise AdminError(404, "not_found", f"no published exit key {kid}")


def list_keys(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [{"key_id": r[0], "public_key": r[1], "created_at": r[2], "active": bool(r[3])}
            for r in conn.execute("SELECT key_id, public_key, created_at, active FROM exit_keys"
                                  " WHERE deleted = 0 ORDER BY created_at")]


def _signing_key(conn: sqlite3.Connection) -> Ed25519PrivateKey:
    row = conn.execute("SELECT private_key FROM exit_keys WHERE active = 1").fetchone()
    if row is None:
        rotate_key(conn)
        row = conn.execute("SELECT private_key FROM exit_keys WHERE active = 1").fetchone()
    key = load_pem_private_key(row[0].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def issue_token(conn: sqlite3.Connection, sale_id: str, ttl_s: int) -> dict[str, Any]:
    """Sign an exit token for a paid sale the CRM received from a store."""
    found = conn.execute(
        "SELECT d.store_id, e.body FROM events e JOIN devices d ON d.device_key = e.device_key"
        " WHERE e.type = 'sale.completed' AND json_extract(e.body, '$.payload.sale_id') = ?",
        (sale_id,)).fetchone()
    if found is None:
        raise AdminError(404, "not_found", f"no paid sale {sale_id} has reached the CRM")
    payload = json.loads(found[1])["payload"]
    key = _signing_key(conn)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = ExitClaims(key_id(key.public_key()), found[0], sale_id, now, now + ttl_s,
                        sum(int(line["qty"]) for line in payload["lines"]),
                        int(payload["total_fen"]))
    token = sign_token(key, claims)
    expires = _iso(dt.datetime.fromtimestamp(claims.expires_at, dt.UTC))
    conn.execute("INSERT INTO exit_tokens (sale_id, key_id, issued_at, expires_at)"
                 " VALUES (?, ?, ?, ?)",
                 (sale_id, claims.key_id, _iso(dt.datetime.fromtimestamp(now, dt.UTC)), expires))
    return {"token": f"EXIT.{token}", "sale_id": sale_id, "store_id": claims.store_id,
            "key_id": claims.key_id, "expires_at": expires, "item_count": claims.item_count,
            "amount_fen": claims.amount_fen}


def add_exit_routes(app: web.Application, crm: Crm,
                    guarded: Callable[[Any], Callable[[web.Request],
                                                       Awaitable[web.StreamResponse]]]) -> None:
    async def keys(_request: web.Request, crm: Crm) -> web.Response:
        return web.json_response(await crm.store.read(list_keys))

    async def rotate(_request: web.Request, crm: Crm) -> web.Response:
        return web.json_response(await crm.store.write(rotate_key), status=201)

    async def retire(request: web.Request, crm: Crm) -> web.Response:
        kid = request.match_info["key_id"]
        await crm.store.write(lambda c: retire_key(c, kid))
        return web.json_response({"retired": kid})

    async def token(request: web.Request, crm: Crm) -> web.Response:
        body = loads_strict(await request.read())
        sale_id = body.get("sale_id") if isinstance(body, dict) else None
        ttl = body.get("ttl_s", DEFAULT_TTL_S) if isinstance(body, dict) else None
        if not isinstance(sale_id, str) or not 0 < len(sale_id) <= 64 or \
                type(ttl) is not int or not 10 <= ttl <= MAX_TTL_S:
            raise ProtocolError(f"need sale_id (string) and optional ttl_s (10-{MAX_TTL_S})")
        return web.json_response(await crm.store.write(lambda c: issue_token(c, sale_id, ttl)),
                                 status=201)

    app.router.add_get("/admin/exit-keys", guarded(keys))
    app.router.add_post("/admin/exit-keys", guarded(rotate))
    app.router.add_delete("/admin/exit-keys/{key_id}", guarded(retire))
    app.router.add_post("/admin/exit-tokens", guarded(token))
