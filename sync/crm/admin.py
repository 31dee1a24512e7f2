"""What the CRM's staff do: pairing codes, catalog, members, coupons, promotions, allowances.

Plain functions over a sqlite3 connection, each run in one write transaction by the server.
Every edit bumps the entity's stream version, which is how it reaches the edge. Entities are
checked with the same row schemas the edge checks the streams with.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import sqlite3
from typing import Any

from ..messages import STREAM_ROWS
from ..schema import SchemaError
from .db import dumps, new_code_seed, next_version
from .streams import STREAMS

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: read aloud, typed by hand


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="milliseconds")


# -- pairing ---------------------------------------------------------------------------------

def create_pairing_code(conn: sqlite3.Connection, store_id: str, device_id: str | None,
                        ttl_s: int) -> dict[str, Any]:
    """Create a one-time code a store's device pairs with (60 bits, expires)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    now = _now()
    conn.execute("INSERT INTO pairing_codes (code, store_id, device_id, created_at, expires_at)"
                 " VALUES (?, ?, ?, ?, ?)",
                 (code, store_id, device_id, _iso(now), _iso(now + dt.timedelta(seconds=ttl_s))))
    return {"code": code, "store_id": store_id, "device_id": device_id,
            "expires_at": _iso(now + dt.timedelta(seconds=ttl_s))}


def pair_device(conn: sqlite3.Connection, code: str, store_id: str, device_id: str,
                allowance: tuple[int, int]) -> dict[str, Any]:
    """Consume ``code`` and register (or re-key) the device; return its key and secret."""
    row = conn.execute("SELECT store_id, device_id, expires_at, used_at FROM pairing_codes"
                       " WHERE code = ?", (code.upper(),)).fetchone()
    if row is None or row[3] is not None:
        raise AdminError(403, "bad_code", "this pairing code is unknown or already used")
    if dt.datetime.fromisoformat(row[2]) < _now():
        raise AdminError(403, "expired_code", "this pairing code has expired; ask for a new one")
    if row[0] != store_id or (row[1] is not None and row[1] != device_id):
        raise AdminError(403, "wrong_device", f"this code is for store {row[0]}"
                         + (f" device {row[1]}" if row[1] else ""))
    device_key = f"{store_id}:{device_id}"
    secret = secrets.token_bytes(32)
    now = _iso(_now())
    conn.execute("UPDATE pairing_codes SET used_at = ?, used_by = ? WHERE code = ?",
                 (now, device_key, code.upper()))
    # Pairing again keeps the device's history (its seqs continue) and replaces the secret.
    conn.execute("INSERT INTO devices (device_key, store_id, device_id, secret, paired_at)"
                 " VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_key) DO UPDATE SET"
                 " secret = excluded.secret, paired_at = excluded.paired_at",
                 (device_key, store_id, device_id, secret, now))
    if conn.execute("SELECT 1 FROM allowances WHERE device_key = ?", (device_key,)).fetchone() \
            is None and allowance[0] > 0:
        set_allowance(conn, device_key, "stored_value",
                      {"limit_fen": allowance[0], "per_transaction_fen": allowance[1]})
    return {"device_key": device_key, "store_id": store_id, "device_id": device_id,
            "secret": base64.urlsafe_b64encode(secret).decode().rstrip("=")}


# -- entities --------------------------------------------------------------------------------

def get_entity(conn: sqlite3.Connection, stream: str, key: str,
               device_key: str = "") -> dict[str, Any] | None:
    table, key_col, make, per_device = STREAMS[stream]
    sql = f"SELECT * FROM {table} WHERE {key_col} = ? AND deleted = 0"  # noqa: S608
    params: list[Any] = [key]
    if per_device:
        sql += " AND device_key = ?"
        params.append(device_key)
    cur = conn.execute(sql, params)
    cur.row_factory = sqlite3.Row
    row = cur.fetchone()
    return make(conn, row) if row else None


def save_entity(conn: sqlite3.Connection, stream: str, key: str, data: dict[str, Any], *,
                partial: bool) -> dict[str, Any]:
    """Create or replace (PUT) or change some fields (PATCH) of an entity; return it."""
    key_col = STREAMS[stream][1]
    current = get_entity(conn, stream, key)
    if partial and current is None:
        raise AdminError(404, "not_found", f"no {stream} entry {key}")
    row = dict(current or {}, **data) if partial else dict(data)
    row[key_col] = key
    row["updated_at"] = _iso(_now())
    if stream == "members":
        _member_defaults(row, current)
    try:
        STREAM_ROWS[stream].check(row)
    except SchemaError as err:
        raise AdminError(400, "bad_entity", str(err)) from None
    version = next_version(conn, stream)
    WRITERS[stream](conn, row, version)
    return row


def _member_defaults(row: dict[str, Any], current: dict[str, Any] | None) -> None:
    row.setdefault("code_seed", new_code_seed())
    row.setdefault("tier", "standard")
    for field in ("phone", "member_code"):
        row.setdefault(field, None)
    for balance in ("points_balance", "stored_value_fen"):
        if current is None:
            row.setdefault(balance, 0)
        elif row.get(balance, current[balance]) != current[balance]:
            raise AdminError(409, "balance_is_a_ledger", "balances change only through "
                             "POST /admin/members/{id}/adjustments")
        else:
            row[balance] = current[balance]


def _write_product(conn: sqlite3.Connection, d: dict[str, Any], version: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO products (id, name, name_en, category, price_fen,"
        " member_price_fen, sold_by_weight, age_restricted, expected_weight_g,"
        " weight_tolerance_g, active, updated_at, version, deleted)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (d["id"], d["name"], d["name_en"], d["category"], d["price_fen"], d["member_price_fen"],
         int(d["sold_by_weight"]), int(d["age_restricted"]), d["expected_weight_g"],
         d["weight_tolerance_g"], int(d["active"]), d["updated_at"], version))
    conn.execute("DELETE FROM barcodes WHERE product_id = ?", (d["id"],))
    for b in d["barcodes"]:
        owner = conn.execute("SELECT product_id FROM barcodes WHERE kind = ? AND code = ?",
                             (b["kind"], b["code"])).fetchone()
        if owner is not None:
            raise AdminError(409, "barcode_taken", f"{b['kind']} {b['code']} belongs to "
                             f"{owner[0]}; remove it there first")
        conn.execute("INSERT INTO barcodes (code, kind, product_id) VALUES (?, ?, ?)",
                     (b["code"], b["kind"], d["id"]))


def _write_promotion(conn: sqlite3.Connection, d: dict[str, Any], version: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO promotions (id, kind, label, body, active, starts_at, ends_at,"
        " priority, updated_at, version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (d["id"], d["kind"], d["label"], dumps(d["body"]), int(d["active"]), d["starts_at"],
         d["ends_at"], d["priority"], d["updated_at"], version))


def _write_coupon(conn: sqlite3.Connection, d: dict[str, Any], version: int) -> None:
    first = conn.execute("SELECT redeemed_event_id FROM coupons WHERE code = ?",
                         (d["code"],)).fetchone()
    conn.execute(
        "INSERT OR REPLACE INTO coupons (code, label, body, valid_from, valid_to, member_id,"
        " redeemed_at, redeemed_event_id, updated_at, version, deleted)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (d["code"], d["label"], dumps(d["body"]), d["valid_from"], d["valid_to"],
         d["member_id"], d["redeemed_at"], first[0] if first and d["redeemed_at"] else None,
         d["updated_at"], version))


def _write_member(conn: sqlite3.Connection, d: dict[str, Any], version: int) -> None:
    exists = conn.execute("SELECT 1 FROM members WHERE id = ?", (d["id"],)).fetchone()
    if exists:
        conn.execute("UPDATE members SET name = ?, phone = ?, member_code = ?, tier = ?,"
                     " code_seed = ?, updated_at = ?, version = ?, deleted = 0 WHERE id = ?",
                     (d["name"], d["phone"], d["member_code"], d["tier"], d["code_seed"],
                      d["updated_at"], version, d["id"]))
        return
    conn.execute("INSERT INTO members (id, name, phone, member_code, tier, points_balance,"
                 " stored_value_fen, code_seed, updated_at, version)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (d["id"], d["name"], d["phone"], d["member_code"], d["tier"],
                  d["points_balance"], d["stored_value_fen"], d["code_seed"], d["updated_at"],
                  version))
    for balance, column in (("points", "points_balance"), ("stored_value", "stored_value_fen")):
        if d[column]:
            conn.execute("INSERT INTO member_ledger (entry_id, member_id, balance, delta, reason,"
                         " at) VALUES (?, ?, ?, ?, 'opening balance', ?)",
                         (f"opening:{d['id']}:{balance}", d["id"], balance, d[column],
                          d["updated_at"]))


def _write_coupon_rule(conn: sqlite3.Connection, d: dict[str, Any], version: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO coupon_rules (id, label, body, active, starts_at, ends_at,"
        " priority, updated_at, version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (d["id"], d["label"], dumps(d["body"]), int(d["active"]), d["starts_at"], d["ends_at"],
         d["priority"], d["updated_at"], version))


def _write_guide(conn: sqlite3.Connection, d: dict[str, Any], version: int) -> None:
    conn.execute("INSERT OR REPLACE INTO guides (id, name, active, updated_at, version, deleted)"
                 " VALUES (?, ?, ?, ?, ?, 0)",
                 (d["id"], d["name"], int(d["active"]), d["updated_at"], version))


WRITERS = {"catalog": _write_product, "promotions": _write_promotion, "coupons": _write_coupon,
           "members": _write_member, "coupon_rules": _write_coupon_rule,
           "guides": _write_guide}


def delete_entity(conn: sqlite3.Connection, stream: str, key: str) -> None:
    table, key_col, _make, _per_device = STREAMS[stream]
    cur = conn.execute(f"UPDATE {table} SET deleted = 1, version = ?, updated_at = ?"  # noqa: S608
                       f" WHERE {key_col} = ? AND deleted = 0",
                       (next_version(conn, stream), _iso(_now()), key))
    if cur.rowcount == 0:
        raise AdminError(404, "not_found", f"no {stream} entry {key}")


def adjust_member(conn: sqlite3.Connection, member_id: str, balance: str, delta: int,
                  reason: str) -> dict[str, Any]:
    """Add a delta to a member's balance at the CRM (a top-up, a correction)."""
    if balance not in ("points", "stored_value"):
        raise AdminError(400, "bad_balance", "balance must be points or stored_value")
    if get_entity(conn, "members", member_id) is None:
        raise AdminError(404, "not_found", f"no member {member_id}")
    now = _iso(_now())
    conn.execute("INSERT INTO member_ledger (entry_id, member_id, balance, delta, reason, at)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (f"adjust:{secrets.token_hex(8)}", member_id, balance, delta, reason[:64], now))
    column = "points_balance" if balance == "points" else "stored_value_fen"
    conn.execute(f"UPDATE members SET {column} = {column} + ?, version = ?,"  # noqa: S608
                 " updated_at = ? WHERE id = ?",
                 (delta, next_version(conn, "members"), now, member_id))
    member = get_entity(conn, "members", member_id)
    assert member is not None
    return member


def set_allowance(conn: sqlite3.Connection, device_key: str, kind: str,
                  data: dict[str, Any]) -> dict[str, Any]:
    """Grant (or change) what a device may do offline."""
    row = {"kind": kind, "limit_fen": data.get("limit_fen"),
           "per_transaction_fen": data.get("per_transaction_fen"),
           "granted_at": _iso(_now()), "expires_at": data.get("expires_at")}
    try:
        STREAM_ROWS["allowances"].check(row)
    except SchemaError as err:
        raise AdminError(400, "bad_allowance", str(err)) from None
    conn.execute("INSERT OR REPLACE INTO allowances (device_key, kind, limit_fen,"
                 " per_transaction_fen, granted_at, expires_at, version, deleted)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                 (device_key, kind, row["limit_fen"], row["per_transaction_fen"],
                  row["granted_at"], row["expires_at"], next_version(conn, "allowances")))
    return row
