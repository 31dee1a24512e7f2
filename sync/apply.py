"""Apply a change-stream page to the edge database: every row and the cursor, in one transaction.

``apply_page`` runs inside ``Store.write``; if any row fails, nothing of the page is applied
and the cursor stays where it was, so the same page is fetched again. Rows are whole entities
(upsert) or deletions; applying one twice changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from edge.cart import utc_now
from edge.catalog import promotion_from_row
from edge.coupon_issue import rule_from_row

from .messages import Change, ChangesPage
from .protocol import ProtocolError

Applier = Callable[[sqlite3.Connection, Change, ChangesPage], None]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _product(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:
        # Sales keep naming the product; it only stops being sold.
        conn.execute("UPDATE products SET active = 0, updated_at = ? WHERE id = ?",
                     (utc_now(), change.key))
        conn.execute("DELETE FROM barcodes WHERE product_id = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO products (id, name, name_en, category, price_fen, member_price_fen,"
        " sold_by_weight, age_restricted, expected_weight_g, weight_tolerance_g, active,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_en = excluded.name_en,"
        " category = excluded.category, price_fen = excluded.price_fen,"
        " member_price_fen = excluded.member_price_fen, sold_by_weight = excluded.sold_by_weight,"
        " age_restricted = excluded.age_restricted,"
        " expected_weight_g = excluded.expected_weight_g,"
        " weight_tolerance_g = excluded.weight_tolerance_g, active = excluded.active,"
        " updated_at = excluded.updated_at",
        (d["id"], d["name"], d["name_en"], d["category"], d["price_fen"], d["member_price_fen"],
         int(d["sold_by_weight"]), int(d["age_restricted"]), d["expected_weight_g"],
         d["weight_tolerance_g"], int(d["active"]), d["updated_at"]))
    conn.execute("DELETE FROM barcodes WHERE product_id = ?", (d["id"],))
    # A code that moved from another product moves here (the newest row wins).
    conn.executemany(
        "INSERT INTO barcodes (code, kind, product_id) VALUES (?, ?, ?)"
        " ON CONFLICT (kind, code) DO UPDATE SET product_id = excluded.product_id",
        [(b["code"], b["kind"], d["id"]) for b in d["barcodes"]])


def _promotion(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:
        conn.execute("DELETE FROM promotions WHERE id = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO promotions (id, kind, label, body, active, starts_at, ends_at, priority,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, label = excluded.label,"
        " body = excluded.body, active = excluded.active, starts_at = excluded.starts_at,"
        " ends_at = excluded.ends_at, priority = excluded.priority,"
        " updated_at = excluded.updated_at",
        (d["id"], d["kind"], d["label"], _json(d["body"]), int(d["active"]), d["starts_at"],
         d["ends_at"], d["priority"], d["updated_at"]))


def _coupon(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:
        conn.execute("DELETE FROM coupons WHERE code = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO coupons (code, label, body, valid_from, valid_to, member_id, redeemed_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (code) DO UPDATE SET label = excluded.label, body = excluded.body,"
        " valid_from = excluded.valid_from, valid_to = excluded.valid_to,"
        " member_id = excluded.member_id, redeemed_at = excluded.redeemed_at,"
        " updated_at = excluded.updated_at",
        (d["code"], d["label"], _json(d["body"]), d["valid_from"], d["valid_to"],
         d["member_id"], d["redeemed_at"], d["updated_at"]))


def _member(conn: sqlite3.Connection, change: Change, page: ChangesPage) -> None:
    if change.data is None:
        conn.execute("DELETE FROM members WHERE id = ?", (change.key,))
        return
    d = change.data
    if d["member_code"] is not None:
        # The code may have moved from a member whose own change comes later in the stream.
        conn.execute("UPDATE members SET member_code = NULL WHERE member_code = ? AND id <> ?",
                     (d["member_code"], d["id"]))
    conn.execute(
        "INSERT INTO members (id, name, phone, member_code, tier, points_balance,"
        " stored_value_fen, code_seed, crm_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone,"
        " member_code = excluded.member_code, tier = excluded.tier,"
        " points_balance = excluded.points_balance, stored_value_fen = excluded.stored_value_fen,"
        " code_seed = excluded.code_seed, crm_seq = excluded.crm_seq,"
        " updated_at = excluded.updated_at",
        (d["id"], d["name"], d["phone"], d["member_code"], d["tier"], d["points_balance"],
         d["stored_value_fen"], d["code_seed"], page.device_seq, d["updated_at"]))


def _allowance(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:
        conn.execute("DELETE FROM sync_allowances WHERE kind = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO sync_allowances (kind, limit_fen, per_transaction_fen, granted_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (kind) DO UPDATE SET limit_fen = excluded.limit_fen,"
        " per_transaction_fen = excluded.per_transaction_fen,"
        " granted_at = excluded.granted_at, expires_at = excluded.expires_at",
        (d["kind"], d["limit_fen"], d["per_transaction_fen"], d["granted_at"], d["expires_at"]))


def _coupon_rule(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:
        conn.execute("DELETE FROM coupon_rules WHERE id = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO coupon_rules (id, label, body, active, starts_at, ends_at, priority,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET label = excluded.label, body = excluded.body,"
        " active = excluded.active, starts_at = excluded.starts_at,"
        " ends_at = excluded.ends_at, priority = excluded.priority,"
        " updated_at = excluded.updated_at",
        (d["id"], d["label"], _json(d["body"]), int(d["active"]), d["starts_at"],
         d["ends_at"], d["priority"], d["updated_at"]))


def _guide(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:
        # Sales keep naming the guide; the code only stops working.
        conn.execute("UPDATE guides SET active = 0 WHERE id = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO guides (id, name, active, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, active = excluded.active,"
        " updated_at = excluded.updated_at",
        (d["id"], d["name"], int(d["active"]), d["updated_at"]))


def _exit_key(conn: sqlite3.Connection, change: Change, _page: ChangesPage) -> None:
    if change.data is None:  # retired at the CRM: tokens it signed stop passing now
        conn.execute("DELETE FROM exit_keys WHERE key_id = ?", (change.key,))
        return
    d = change.data
    conn.execute(
        "INSERT INTO exit_keys (key_id, public_key, created_at, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (key_id) DO UPDATE SET public_key = excluded.public_key,"
        " created_at = excluded.created_at, updated_at = excluded.updated_at",
        (d["key_id"], d["public_key"], d["created_at"], utc_now()))


APPLIERS: Mapping[str, Applier] = {
    "catalog": _product,
    "promotions": _promotion,
    "coupons": _coupon,
    "members": _member,
    "allowances": _allowance,
    "coupon_rules": _coupon_rule,
    "guides": _guide,
    "exit_keys": _exit_key,
}
# Streams whose rows the catalog caches; ``Catalog.invalidate`` after applying them.
CACHED_STREAMS = frozenset({"catalog", "promotions"})


def precheck(page: ChangesPage) -> None:
    """Refuse a page whose rows would break pricing later (checked before any write)."""
    check = _PRECHECKS.get(page.stream)
    if check is None:
        return
    for change in page.changes:
        if change.data is None:
            continue
        row = dict(change.data, body=_json(change.data["body"]))
        try:
            check(row)
        except (ValueError, TypeError, KeyError) as err:
            raise ProtocolError(f"{page.stream} {change.key}: unusable body: {err}") from None


_PRECHECKS: Mapping[str, Callable[[dict[str, Any]], object]] = {
    "promotions": promotion_from_row,
    "coupon_rules": rule_from_row,
}


def stream_cursor(conn: sqlite3.Connection, stream: str) -> str:
    row = conn.execute("SELECT cursor FROM sync_cursors WHERE stream = ?", (stream,)).fetchone()
    return str(row[0]) if row else ""


def apply_page(conn: sqlite3.Connection, page: ChangesPage, expected_cursor: str) -> bool:
    """Apply ``page`` and move the stream's cursor; return False if another pull got there first."""
    if stream_cursor(conn, page.stream) != expected_cursor:
        return False
    applier = APPLIERS[page.stream]
    for change in page.changes:
        applier(conn, change, page)
    now = utc_now()
    conn.execute(
        "INSERT INTO sync_cursors (stream, cursor, checked_at, changed_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor,"
        " checked_at = excluded.checked_at,"
        " changed_at = coalesce(excluded.changed_at, sync_cursors.changed_at)",
        (page.stream, page.cursor, now, now if page.changes else None))
    return True
