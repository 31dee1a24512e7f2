"""The ``payments`` table: one row per order, each step written before its network call.

Plain functions over a ``sqlite3.Connection``, run inside ``Store.write`` (one transaction).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from ..cart import utc_now

STATES = ("created", "submitted", "waiting_user", "querying", "paid", "failed", "reversing",
          "reversed", "in_doubt")
FINAL = frozenset({"paid", "failed", "reversed"})
# Once a reversal has been asked for, the payment can only end reversed: never settle it.
REVERSING = frozenset({"reversing", "in_doubt"})

# Which state may follow which; anything else is a bug and raises.
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"submitted", "failed"}),
    "submitted": frozenset({"waiting_user", "querying", "paid", "failed", "reversing"}),
    "waiting_user": frozenset({"waiting_user", "querying", "paid", "failed", "reversing"}),
    "querying": frozenset({"waiting_user", "querying", "paid", "failed", "reversing"}),
    "reversing": frozenset({"reversing", "reversed", "in_doubt"}),
    "in_doubt": frozenset({"reversing", "reversed", "in_doubt"}),
    "paid": frozenset(),
    "failed": frozenset(),
    "reversed": frozenset(),
}

_COLUMNS = ("id, sale_id, cart_id, lane, provider, amount_fen, code_masked, state, reason,"
            " queries, reversals, transaction_id, last_error, created_at, updated_at,"
            " finished_at")


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: str
    sale_id: str
    cart_id: str
    lane: str
    provider: str
    amount_fen: int
    code_masked: str
    state: str
    reason: str | None
    queries: int
    reversals: int
    transaction_id: str | None
    last_error: str | None
    created_at: str
    updated_at: str
    finished_at: str | None

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def view(self) -> dict[str, Any]:
        """Return what screens and the console may show (no code, no hash)."""
        return {"payment_id": self.id, "provider": self.provider, "state": self.state,
                "amount_fen": self.amount_fen, "code_masked": self.code_masked,
                "transaction_id": self.transaction_id}


class TransitionError(RuntimeError):
    """A state change the payment state machine does not allow (a bug, never user input)."""


def new_out_trade_no(now: dt.datetime | None = None) -> str:
    """Return 32 characters, date first so a merchant's reconciliation sorts by day."""
    day = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d")
    return day + uuid.uuid4().hex[:24]


def code_hash(conn: sqlite3.Connection, code: str) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'payment_code_salt'").fetchone()
    salt = row[0] if row else ""
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def code_used(conn: sqlite3.Connection, code: str) -> bool:
    digest = code_hash(conn, code)
    return conn.execute("SELECT 1 FROM payments WHERE code_hash = ?", (digest,)).fetchone() \
        is not None


def live_payment_for_sale(conn: sqlite3.Connection, sale_id: str) -> PaymentRecord | None:
    """Return the payment of this sale that is in flight, in doubt or paid, if any."""
    return _one(conn, "WHERE sale_id = ? AND state NOT IN ('failed', 'reversed')", (sale_id,))


def insert_payment(
    conn: sqlite3.Connection, *, payment_id: str, sale_id: str, cart_id: str, lane: str,
    provider: str, amount_fen: int, code: str, code_masked: str,
) -> PaymentRecord:
    now = utc_now()
    conn.execute(
        f"INSERT INTO payments ({_COLUMNS.replace(', finished_at', '')}, code_hash)"  # noqa: S608
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'created', NULL, 0, 0, NULL, NULL, ?, ?, ?)",
        (payment_id, sale_id, cart_id, lane, provider, amount_fen, code_masked, now, now,
         code_hash(conn, code)))
    record = get_payment(conn, payment_id)
    assert record is not None
    return record


def get_payment(conn: sqlite3.Connection, payment_id: str) -> PaymentRecord | None:
    return _one(conn, "WHERE id = ?", (payment_id,))


def advance(
    conn: sqlite3.Connection, payment_id: str, state: str, *, reason: str | None = None,
    error: str | None = None, transaction_id: str | None = None, query: bool = False,
    reversal: bool = False,
) -> PaymentRecord:
    """Move a payment to ``state`` (checked against ``TRANSITIONS``) and return the new row."""
    current = get_payment(conn, payment_id)
    if current is None:
        raise TransitionError(f"no payment {payment_id}")
    if state not in TRANSITIONS[current.state]:
        raise TransitionError(f"payment {payment_id}: {current.state} -> {state} not allowed")
    now = utc_now()
    conn.execute(
        "UPDATE payments SET state = ?, reason = coalesce(?, reason),"
        " last_error = coalesce(?, last_error), transaction_id = coalesce(?, transaction_id),"
        " queries = queries + ?, reversals = reversals + ?, updated_at = ?,"
        " finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?",
        (state, reason, None if error is None else error[:500], transaction_id, int(query),
         int(reversal), now, state in FINAL, now, payment_id))
    record = get_payment(conn, payment_id)
    assert record is not None
    return record


def unfinished(conn: sqlite3.Connection) -> list[PaymentRecord]:
    """Every payment a restart must pick up, oldest first."""
    return _many(conn, "WHERE state NOT IN ('paid', 'failed', 'reversed') ORDER BY created_at",
                 ())


def recent(conn: sqlite3.Connection, limit: int = 50) -> list[PaymentRecord]:
    return _many(conn, "ORDER BY created_at DESC LIMIT ?", (max(1, min(limit, 1000)),))


def _one(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> PaymentRecord | None:
    rows = _many(conn, where + " LIMIT 1", params)
    return rows[0] if rows else None


def _many(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[PaymentRecord]:
    # ``where`` is always one of this module's constant clauses; values are bound parameters.
    rows = conn.execute(f"SELECT {_COLUMNS} FROM payments {where}", params)  # noqa: S608
    return [PaymentRecord(*row) for row in rows]
