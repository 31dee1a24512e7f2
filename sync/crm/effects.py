"""What an accepted event means at the CRM: member balances move, coupons get redeemed.

One ``Effects`` per push: it answers lookups from what the batch itself already did, and
writes the member ledger and balances in bulk at the end (one balance update per member
instead of one per sale), which is what keeps ingest cheap per event. An applier raises
``EventRejected`` before it records anything, so a refused event leaves no trace.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import EventRejected
from .db import dumps, next_version

if TYPE_CHECKING:
    from .ingest import Incoming

_COLUMN = {"points": "points_balance", "stored_value": "stored_value_fen"}


class Effects:
    def __init__(self, conn: sqlite3.Connection, device_key: str, now: str) -> None:
        self.conn, self.device_key, self.now = conn, device_key, now
        self._members: dict[str, bool] = {}
        self._entries: set[str] = set()
        self._ledger: list[tuple[Any, ...]] = []
        self._balances: dict[tuple[str, str], int] = {}
        self._conflicts: list[tuple[Any, ...]] = []

    def member_known(self, member_id: str) -> bool:
        known = self._members.get(member_id)
        if known is None:
            known = self._members[member_id] = self.conn.execute(
                "SELECT 1 FROM members WHERE id = ? AND deleted = 0", (member_id,)
            ).fetchone() is not None
        return known

    def entry_taken(self, entry_id: str) -> bool:
        return entry_id in self._entries or self.conn.execute(
            "SELECT 1 FROM member_ledger WHERE entry_id = ?", (entry_id,)).fetchone() is not None

    def add_delta(self, inc: Incoming, entry: tuple[str, str, str, int, str]) -> None:
        """Record (entry_id, member_id, balance, delta, reason) for the flush."""
        entry_id, member_id, balance, delta, reason = entry
        self._entries.add(entry_id)
        self._ledger.append((entry_id, member_id, balance, delta, reason, inc.event_id,
                             self.now))
        key = (member_id, balance)
        self._balances[key] = self._balances.get(key, 0) + delta

    def conflict(self, inc: Incoming, kind: str, subject: str, detail: dict[str, Any]) -> None:
        self._conflicts.append((self.device_key, inc.seq, inc.event_id, kind, subject,
                                dumps(detail), self.now))

    def flush(self) -> None:
        """Write what the batch's events did; call once, after the last event."""
        conn = self.conn
        conn.executemany("INSERT INTO member_ledger (entry_id, member_id, balance, delta,"
                         " reason, event_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)", self._ledger)
        for (member_id, balance), delta in self._balances.items():
            column = _COLUMN[balance]
            conn.execute(f"UPDATE members SET {column} = {column} + ?, version = ?,"  # noqa: S608
                         " updated_at = ? WHERE id = ?",
                         (delta, next_version(conn, "members"), self.now, member_id))
        conn.executemany("INSERT OR IGNORE INTO conflicts (device_key, seq, event_id, kind,"
                         " subject, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)", self._conflicts)


Applier = Callable[[Effects, "Incoming"], None]


def apply_sale(fx: Effects, inc: Incoming) -> None:
    """Member ledger entries move balances (deltas, never overwrites); coupons are redeemed."""
    apply_ledger(fx, inc)
    for use in inc.payload.get("coupons", ()):
        _redeem(fx, inc, use["code"], use["amount_fen"])


def apply_ledger(fx: Effects, inc: Incoming) -> None:
    """Move member balances by the event's member ledger entries (a refund's take points back)."""
    deltas = []
    for entry in inc.payload["ledger"]:
        kind, member_id, balance = entry["account"].split(":")
        if kind != "member" or balance not in _COLUMN:
            continue
        if not fx.member_known(member_id):
            raise EventRejected("unknown_member", f"member {member_id} is not known to the CRM")
        if fx.entry_taken(entry["entry_id"]):
            raise EventRejected("duplicate_entry", f"ledger entry {entry['entry_id']} was "
                                "already applied by another event")
        deltas.append((entry["entry_id"], member_id, balance, entry["delta"], entry["reason"]))
    for delta in deltas:
        fx.add_delta(inc, delta)


def _redeem(fx: Effects, inc: Incoming, code: str, amount_fen: int) -> None:
    row = fx.conn.execute("SELECT redeemed_event_id, redeemed_at FROM coupons"
                          " WHERE code = ? AND deleted = 0", (code,)).fetchone()
    if row is None:
        fx.conflict(inc, "coupon_unknown", code, {"amount_fen": amount_fen})
    elif row[0] is None:
        fx.conn.execute("UPDATE coupons SET redeemed_at = ?, redeemed_event_id = ?,"
                        " version = ?, updated_at = ? WHERE code = ?",
                        (inc.occurred_at, inc.event_id, next_version(fx.conn, "coupons"), fx.now,
                         code))
    elif row[0] != inc.event_id:
        fx.conflict(inc, "coupon_already_redeemed", code, {
            "first_event_id": row[0], "first_device": row[0].rsplit(":", 1)[0],
            "first_redeemed_at": row[1], "amount_fen": amount_fen})


def _sale_has_effects(inc: Incoming) -> bool:
    return bool(inc.payload.get("coupons")) or any(
        e["account"].startswith("member:") for e in inc.payload["ledger"])


# Event types with a meaning at the CRM beyond being stored; add one entry per such type.
APPLIERS: Mapping[str, tuple[Applier, Callable[[Incoming], bool]]] = {
    "sale.completed": (apply_sale, _sale_has_effects),
    "sale.refunded": (apply_ledger, _sale_has_effects),
}
