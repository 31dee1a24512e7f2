"""The CRM's member endpoints for devices, signed like sync requests.

    POST /v1/members/wallet-lookup   {"provider", "payer_id"}  -> {"member_id", "tier"}
                                      (``member_id`` null: nobody is linked to this payer)
    POST /v1/member-codes/verify     {"code"}  (MC<member>.<otp>, with or without MC)
                                      -> {"valid", "reason", "member_id", "tier"}

The member code is checked with the same algorithm as at the edge (``sync.member_code``), and
the CRM remembers the last step it accepted per member, so a code verifies once here too.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge.cart import utc_now

from .. import member_code
from ..protocol import ProtocolError, loads_strict
from ..schema import Obj, SchemaError, Str

if TYPE_CHECKING:
    from .server import Crm

WALLET_LOOKUP = Obj({"provider": Str(16, enum=("wechat", "alipay")),
                     "payer_id": Str(128, pattern=r"[A-Za-z0-9_-]+")}, max_keys=2)
CODE_VERIFY = Obj({"code": Str(80, pattern=r"[A-Za-z0-9._-]+")}, max_keys=1)


def add_loyalty_routes(app: web.Application, crm: Crm) -> None:
    def bound(handler: Callable[[web.Request, Crm], Awaitable[web.Response]],
              ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapper(request: web.Request) -> web.Response:
            return await handler(request, crm)
        return wrapper

    app.router.add_post("/v1/members/wallet-lookup", bound(wallet_lookup))
    app.router.add_post("/v1/member-codes/verify", bound(verify_code))


async def _signed_body(request: web.Request, crm: Crm, schema: Obj) -> tuple[Any, Any]:
    auth, body = await crm.authenticate(request)
    data = loads_strict(body)
    try:
        schema.validate(data)
    except SchemaError as err:
        raise ProtocolError(str(err)) from None
    return auth, data


async def wallet_lookup(request: web.Request, crm: Crm) -> web.Response:
    auth, data = await _signed_body(request, crm, WALLET_LOOKUP)

    def read(conn: sqlite3.Connection) -> tuple[str, str] | None:
        crm.remember_nonce(conn, auth)
        row = conn.execute("SELECT m.id, m.tier FROM wallet_links w JOIN members m"
                           " ON m.id = w.member_id WHERE w.provider = ? AND w.payer_id = ?"
                           " AND m.deleted = 0", (data["provider"], data["payer_id"])).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    found = await crm.store.write(read)
    return web.json_response({"member_id": found[0], "tier": found[1]} if found
                             else {"member_id": None})


def check_code(conn: sqlite3.Connection, code: str, now_s: float) -> dict[str, Any]:
    """Verify a member code once; runs in a write transaction (the step is remembered)."""
    parsed = member_code.parse_payload(code.removeprefix("MC"))
    row = None if parsed is None else conn.execute(
        "SELECT id, tier, code_seed FROM members WHERE id = ? AND deleted = 0",
        (parsed[0],)).fetchone()
    if parsed is None or row is None or not row[2]:
        return {"valid": False, "reason": "unknown"}
    try:
        found = member_code.check(row[2], parsed[1], now_s)
    except member_code.BadSeed:
        return {"valid": False, "reason": "unknown"}
    answer: dict[str, Any] = {"member_id": row[0], "tier": row[1]}
    if found.outcome != "ok" or found.step is None:
        return {"valid": False, "reason": "unknown" if found.outcome == "invalid" else
                "expired", **(answer if found.outcome == "expired" else {})}
    last = conn.execute("SELECT last_step FROM member_code_steps WHERE member_id = ?",
                        (row[0],)).fetchone()
    if last is not None and last[0] >= found.step:
        return {"valid": False, "reason": "reused", **answer}
    conn.execute("INSERT INTO member_code_steps (member_id, last_step, accepted_at)"
                 " VALUES (?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
                 " last_step = excluded.last_step, accepted_at = excluded.accepted_at",
                 (row[0], found.step, utc_now()))
    return {"valid": True, "reason": "ok", **answer}


async def verify_code(request: web.Request, crm: Crm) -> web.Response:
    auth, data = await _signed_body(request, crm, CODE_VERIFY)

    def write(conn: sqlite3.Connection) -> dict[str, Any]:
        crm.remember_nonce(conn, auth)
        return check_code(conn, data["code"], time.time())

    return web.json_response(await crm.store.write(write))
