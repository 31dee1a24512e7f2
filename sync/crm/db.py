"""The reference CRM's database: the edge's durable Store on its own file and migrations."""

from __future__ import annotations

import base64
import json
import re
import secrets
import sqlite3
from importlib import resources
from pathlib import Path

from edge.cart import utc_now
from edge.seed import DEMO_COUPON_RULES, seed_demo
from edge.store import Migration, Store, apply_migrations, bundled_migrations

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
STREAM_TABLES = {"catalog": "products", "promotions": "promotions", "coupons": "coupons",
                 "members": "members", "allowances": "allowances",
                 "coupon_rules": "coupon_rules", "guides": "guides"}


def crm_migrations() -> list[Migration]:
    """Return the migrations shipped in ``sync/crm/migrations``, in order."""
    found = []
    for entry in resources.files("sync.crm").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


async def open_crm_store(path: Path) -> Store:
    """Open (and migrate) the CRM's SQLite file: WAL, synchronous=FULL, like the edge's."""
    store = Store(path)
    await store.open(crm_migrations())
    if store.safe_mode:
        reason = store.safe_mode_reason
        await store.close()
        raise RuntimeError(f"the CRM database {path} is damaged: {reason}")
    return store


def next_version(conn: sqlite3.Connection, stream: str) -> int:
    """Return the next version of a stream; call inside a write transaction."""
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1)"
        " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        (f"version:{stream}",)).fetchone()
    return int(row[0])


def new_code_seed() -> str:
    """Return a base32 secret (160 bits) for a member's rotating code."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def seed_crm_demo(conn: sqlite3.Connection) -> bool:
    """Fill an empty CRM with the demo store the edge seeds (``edge.seed``); False if not empty.

    The edge's own seed function writes into a scratch edge database, and its rows are copied
    here, so the two can never drift apart.
    """
    if conn.execute("SELECT 1 FROM products LIMIT 1").fetchone():
        return False
    scratch = sqlite3.connect(":memory:")
    try:
        apply_migrations(scratch, bundled_migrations())
        scratch.execute("BEGIN")
        seed_demo(scratch)
        scratch.execute("COMMIT")
        _copy_demo(scratch, conn)
    finally:
        scratch.close()
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (utc_now(),))
    return True


def _copy_demo(src: sqlite3.Connection, conn: sqlite3.Connection) -> None:
    for row in src.execute(
            "SELECT id, name, name_en, category, price_fen, member_price_fen, sold_by_weight,"
            " age_restricted, expected_weight_g, weight_tolerance_g, active, updated_at"
            " FROM products ORDER BY id"):
        conn.execute("INSERT INTO products (id, name, name_en, category, price_fen,"
                     " member_price_fen, sold_by_weight, age_restricted, expected_weight_g,"
                     " weight_tolerance_g, active, updated_at, version)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (*row, next_version(conn, "catalog")))
    conn.executemany("INSERT INTO barcodes (code, kind, product_id) VALUES (?, ?, ?)",
                     src.execute("SELECT code, kind, product_id FROM barcodes").fetchall())
    for row in src.execute("SELECT id, kind, label, body, active, starts_at, ends_at, priority,"
                           " updated_at FROM promotions ORDER BY id"):
        conn.execute("INSERT INTO promotions (id, kind, label, body, active, starts_at, ends_at,"
                     " priority, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (*row, next_version(conn, "promotions")))
    for row in src.execute("SELECT code, label, body, valid_from, valid_to, member_id,"
                           " updated_at FROM coupons ORDER BY code"):
        conn.execute("INSERT INTO coupons (code, label, body, valid_from, valid_to, member_id,"
                     " updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (*row, next_version(conn, "coupons")))
    for row in src.execute("SELECT id, name, active, updated_at FROM guides ORDER BY id"):
        conn.execute("INSERT INTO guides (id, name, active, updated_at, version)"
                     " VALUES (?, ?, ?, ?, ?)", (*row, next_version(conn, "guides")))
    now = utc_now()
    for mid, name, phone, code, tier, points, stored in src.execute(
            "SELECT id, name, phone, member_code, tier, points_balance, stored_value_fen"
            " FROM members ORDER BY id"):
        conn.execute("INSERT INTO members (id, name, phone, member_code, tier, points_balance,"
                     " stored_value_fen, code_seed, updated_at, version)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (mid, name, phone, code, tier, points, stored, new_code_seed(), now,
                      next_version(conn, "members")))
        for balance, amount in (("points", points), ("stored_value", stored)):
            if amount:
                conn.execute("INSERT INTO member_ledger (entry_id, member_id, balance, delta,"
                             " reason, at) VALUES (?, ?, ?, ?, 'opening balance', ?)",
                             (f"opening:{mid}:{balance}", mid, balance, amount, now))


def seed_demo_coupon_rules(conn: sqlite3.Connection) -> bool:
    """Give the demo's CRM its rules for coupons after payment; False if it has rules."""
    if conn.execute("SELECT 1 FROM coupon_rules LIMIT 1").fetchone():
        return False
    now = utc_now()
    for rule_id, label, body, priority in DEMO_COUPON_RULES:
        conn.execute("INSERT INTO coupon_rules (id, label, body, priority, updated_at, version)"
                     " VALUES (?, ?, ?, ?, ?, ?)", (rule_id, label, dumps(body), priority, now,
                                                    next_version(conn, "coupon_rules")))
    return True


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
