"""Serve change streams: every row whose version is past the cursor, oldest first, in pages.

A row is the entity's whole current state (or a tombstone), so a client that missed versions
in between still converges; the cursor is the last version on the page. SQLite has one
writer, so versions become visible in order; a chain's CRM on a multi-writer database must
make sure of the same (e.g. hand out a page only up to the oldest open transaction).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

RowMaker = Callable[[sqlite3.Connection, sqlite3.Row], dict[str, Any]]


def _product(conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    barcodes = [{"code": c, "kind": k} for c, k in conn.execute(
        "SELECT code, kind FROM barcodes WHERE product_id = ? ORDER BY kind, code", (r["id"],))]
    return {"id": r["id"], "name": r["name"], "name_en": r["name_en"], "category": r["category"],
            "price_fen": r["price_fen"], "member_price_fen": r["member_price_fen"],
            "sold_by_weight": bool(r["sold_by_weight"]),
            "age_restricted": bool(r["age_restricted"]),
            "expected_weight_g": r["expected_weight_g"],
            "weight_tolerance_g": r["weight_tolerance_g"], "active": bool(r["active"]),
            "barcodes": barcodes, "updated_at": r["updated_at"]}


def _promotion(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"id": r["id"], "kind": r["kind"], "label": r["label"], "body": json.loads(r["body"]),
            "active": bool(r["active"]), "starts_at": r["starts_at"], "ends_at": r["ends_at"],
            "priority": r["priority"], "updated_at": r["updated_at"]}


def _coupon(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"code": r["code"], "label": r["label"], "body": json.loads(r["body"]),
            "valid_from": r["valid_from"], "valid_to": r["valid_to"], "member_id": r["member_id"],
            "redeemed_at": r["redeemed_at"], "updated_at": r["updated_at"]}


def _member(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"id": r["id"], "name": r["name"], "phone": r["phone"],
            "member_code": r["member_code"], "tier": r["tier"],
            "points_balance": r["points_balance"], "stored_value_fen": r["stored_value_fen"],
            "code_seed": r["code_seed"], "updated_at": r["updated_at"]}


def _allowance(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"kind": r["kind"], "limit_fen": r["limit_fen"],
            "per_transaction_fen": r["per_transaction_fen"], "granted_at": r["granted_at"],
            "expires_at": r["expires_at"]}


def _coupon_rule(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"id": r["id"], "label": r["label"], "body": json.loads(r["body"]),
            "active": bool(r["active"]), "starts_at": r["starts_at"], "ends_at": r["ends_at"],
            "priority": r["priority"], "updated_at": r["updated_at"]}


def _guide(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"id": r["id"], "name": r["name"], "active": bool(r["active"]),
            "updated_at": r["updated_at"]}


def _exit_key(_conn: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    return {"key_id": r["key_id"], "public_key": r["public_key"], "created_at": r["created_at"]}


# stream -> (table, key column, row maker, rows are per device)
STREAMS: Mapping[str, tuple[str, str, RowMaker, bool]] = {
    "catalog": ("products", "id", _product, False),
    "promotions": ("promotions", "id", _promotion, False),
    "coupons": ("coupons", "code", _coupon, False),
    "members": ("members", "id", _member, False),
    "allowances": ("allowances", "kind", _allowance, True),
    "coupon_rules": ("coupon_rules", "id", _coupon_rule, False),
    "guides": ("guides", "id", _guide, False),
    "exit_keys": ("exit_keys", "key_id", _exit_key, False),
}


def parse_cursor(cursor: str) -> int:
    """Return the version a cursor stands for; raise ``ValueError`` for one we never issued."""
    if cursor == "":
        return 0
    if not cursor.isdigit() or len(cursor) > 16:
        raise ValueError(f"unknown cursor {cursor[:32]!r}")
    return int(cursor)


def changes_page(conn: sqlite3.Connection, stream: str, after: int, limit: int,
                 device_key: str) -> dict[str, Any]:
    """Return one page of ``stream`` after version ``after``, as the protocol shapes it."""
    table, key, make, per_device = STREAMS[stream]
    sql = f"SELECT * FROM {table} WHERE version > ?"  # noqa: S608 - names from STREAMS
    params: list[Any] = [after]
    if per_device:
        sql += " AND device_key = ?"
        params.append(device_key)
    sql += " ORDER BY version LIMIT ?"
    params.append(limit + 1)
    cur = conn.execute(sql, params)
    cur.row_factory = sqlite3.Row
    rows = cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    changes = [{"op": "delete" if r["deleted"] else "upsert", "key": r[key],
                "version": r["version"], "data": None if r["deleted"] else make(conn, r)}
               for r in rows]
    seq = conn.execute("SELECT acked_through_seq FROM devices WHERE device_key = ?",
                       (device_key,)).fetchone()
    return {"stream": stream, "changes": changes,
            "cursor": str(rows[-1]["version"]) if rows else (str(after) if after else ""),
            "has_more": more, "device_seq": int(seq[0]) if seq else 0}
