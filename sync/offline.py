"""Offline stored value, bounded like store-and-forward card payments.

A member's stored value may be spent while sales are not yet at the CRM only within:
the allowance the CRM granted this device (total, per transaction, expiry), the caps in
``[sync]`` (per transaction, total), a maximum age of the CRM's last word on the allowance,
and the member's balance as of the CRM less what this device already spent and has not sent.

``decide`` is pure; ``read_facts`` gathers its input in one read (it also runs inside a sale's
write transaction, where the tender code should call it so two lanes cannot both take the last
of an allowance).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

STORED_VALUE = "stored_value"


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    reason: str          # English, for the log and the console
    code: str = "ok"     # stable, for screens to translate


@dataclass(frozen=True, slots=True)
class OfflineLimits:
    per_transaction_fen: int
    total_fen: int
    max_age_s: int


@dataclass(frozen=True, slots=True)
class Allowance:
    limit_fen: int
    per_transaction_fen: int
    granted_at: str
    expires_at: str | None
    checked_at: str | None   # when the CRM last answered the allowances stream


@dataclass(frozen=True, slots=True)
class OfflineFacts:
    allowance: Allowance | None
    pending_total_fen: int          # stored value spent here and not settled at the CRM
    member_known: bool
    member_available_fen: int       # balance as of the CRM, less this device's unsent spend


def decide(  # noqa: PLR0911 - one answer per rule, in the order a cashier reads them
        facts: OfflineFacts, limits: OfflineLimits, amount_fen: int, now: dt.datetime,
) -> Decision:
    """Say whether ``amount_fen`` of stored value may be spent now, and why not."""
    if amount_fen <= 0:
        return Decision(False, "the amount must be positive", "invalid_amount")
    if not facts.member_known:
        return Decision(False, "unknown member", "unknown_member")
    allowance = facts.allowance
    if allowance is None:
        return Decision(False, "the CRM has granted this device no stored-value allowance",
                        "no_allowance")
    if allowance.expires_at and _at(allowance.expires_at) <= now:
        return Decision(False, "the CRM's stored-value allowance has expired",
                        "allowance_expired")
    if allowance.checked_at is None or (
            now - _at(allowance.checked_at)).total_seconds() > limits.max_age_s:
        return Decision(False, f"no word from the CRM for over {limits.max_age_s // 3600} h; "
                        "stored value is paused until the link is back", "too_old")
    per_tx = min(limits.per_transaction_fen, allowance.per_transaction_fen)
    if amount_fen > per_tx:
        return Decision(False, f"over the offline limit of {_yuan(per_tx)} per purchase",
                        "over_transaction_cap")
    total = min(limits.total_fen, allowance.limit_fen)
    if facts.pending_total_fen + amount_fen > total:
        left = max(0, total - facts.pending_total_fen)
        return Decision(False, f"the offline stored-value allowance is used up "
                        f"({_yuan(left)} left of {_yuan(total)})", "allowance_exhausted")
    if amount_fen > facts.member_available_fen:
        return Decision(False, f"the balance is {_yuan(max(0, facts.member_available_fen))}",
                        "insufficient_balance")
    return Decision(True, "within the offline allowance")


def read_facts(conn: sqlite3.Connection, member_id: str) -> OfflineFacts:
    """Gather what ``decide`` needs in one consistent read."""
    cursor = conn.execute("SELECT acked_through_seq FROM sync_push WHERE id = 1").fetchone()[0]
    row = conn.execute(
        "SELECT a.limit_fen, a.per_transaction_fen, a.granted_at, a.expires_at, c.checked_at"
        " FROM sync_allowances a LEFT JOIN sync_cursors c ON c.stream = 'allowances'"
        " WHERE a.kind = ?", (STORED_VALUE,)).fetchone()
    allowance = Allowance(*row) if row else None
    pending = _unsettled_spend(conn, cursor)
    member = conn.execute("SELECT stored_value_fen, crm_seq FROM members WHERE id = ?",
                          (member_id,)).fetchone()
    if member is None:
        return OfflineFacts(allowance, pending, False, 0)
    # Deltas of sales after the page the balance came from are not in it yet.
    local = conn.execute(
        "SELECT coalesce(sum(l.delta), 0) FROM ledger l JOIN sales s ON s.id = l.sale_id"
        " WHERE l.account = ? AND s.outbox_seq > ?",
        (f"member:{member_id}:stored_value", int(member[1]))).fetchone()[0]
    return OfflineFacts(allowance, pending, True, int(member[0]) + int(local))


def _unsettled_spend(conn: sqlite3.Connection, cursor: int) -> int:
    """Return the stored value spent at this device that the CRM has not settled."""
    account = "member:%:stored_value"
    queued = conn.execute(
        "SELECT coalesce(-sum(l.delta), 0) FROM sales s JOIN ledger l ON l.sale_id = s.id"
        " WHERE s.outbox_seq > ? AND l.account LIKE ? AND l.delta < 0",
        (cursor, account)).fetchone()[0]
    dead = conn.execute(
        "SELECT coalesce(-sum(l.delta), 0) FROM sync_dead_letters d"
        " JOIN sales s ON s.outbox_seq = d.seq JOIN ledger l ON l.sale_id = s.id"
        " WHERE d.seq <= ? AND l.account LIKE ? AND l.delta < 0",
        (cursor, account)).fetchone()[0]
    return int(queued) + int(dead)


def _at(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"
