"""What an accepted event means at the CRM: member balances move, coupons get redeemed.

One ``Effects`` per push: it answers lookups from what the batch itself already did, and
writes the member ledger and balances in bulk at the end (one balance update per member
instead of one per sale), which is what keeps ingest cheap per event. An applier raises
``EventRejected`` before it records anything, so a refused event leaves no trace.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import EventRejected
from .db import dumps, new_code_seed, next_version

if TYPE_CHECKING:
    from .ingest import Incoming

_COLUMN = {"points": "points_balance", "stored_value": "stored_value_fen"}


class Effects:
    def __init__(self, conn: sqlite3.Connection, device_key: str, now: str) -> None:
        self.conn, self.device_key, self.now = conn, device_key, now
        self._members: dict[str, bool] = {}
        self._entries: set[str] = set()
        self._looked_up: set[str] = set()   # entry ids asked about in one query up front
        self._stored: set[str] = set()      # of those, the ones already in the ledger
        self._ledger: list[tuple[Any, ...]] = []
        self._balances: dict[tuple[str, str], int] = {}
        self._conflicts: list[tuple[Any, ...]] = []

    def member_created(self, member_id: str) -> None:
        self._members[member_id] = True

    def member_known(self, member_id: str) -> bool:
        known = self._members.get(member_id)
        if known is None:
            known = self._members[member_id] = self.conn.execute(
                "SELECT 1 FROM members WHERE id = ? AND deleted = 0", (member_id,)
            ).fetchone() is not None
        return known

    def look_up_entries(self, entry_ids: Iterable[str]) -> None:
        """Find which of the batch's ledger entries are applied already, in one query.

        A push carries hundreds of member entries; asking per entry was a third of the
        statements of a push. The ledger only grows at ``flush``, so the answer holds for the
        whole batch (entries the batch itself adds are in ``_entries``).
        """
        wanted = set(entry_ids) - self._looked_up
        if not wanted:
            return
        self._stored.update(row[0] for row in self.conn.execute(
            "SELECT entry_id FROM member_ledger WHERE entry_id IN"
            " (SELECT value FROM json_each(?))", (json.dumps(sorted(wanted)),)))
        self._looked_up |= wanted

    def entry_taken(self, entry_id: str) -> bool:
        if entry_id in self._entries:
            return True
        if entry_id in self._looked_up:
            return entry_id in self._stored
        return self.conn.execute("SELECT 1 FROM member_ledger WHERE entry_id = ?",
                                 (entry_id,)).fetchone() is not None

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
    credit(fx, inc, inc.payload["ledger"])
    for use in inc.payload.get("coupons", ()):
        _redeem(fx, inc, use["code"], use["amount_fen"])
    guide = inc.payload.get("guide_id")
    if guide is not None:
        p = inc.payload
        fx.conn.execute("INSERT OR IGNORE INTO sale_guides (event_id, sale_id, guide_id,"
                        " member_id, total_fen, sold_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (inc.event_id, p["sale_id"], guide, p["member_id"], p["total_fen"],
                         p["created_at"]))


def credit(fx: Effects, inc: Incoming, entries: list[dict[str, Any]]) -> None:
    """Apply member ledger entries (after checking every one: all or none)."""
    deltas = []
    for entry in entries:
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


def apply_ledger(fx: Effects, inc: Incoming) -> None:
    """Move member balances by the event's ledger (a refund's take points back)."""
    credit(fx, inc, inc.payload["ledger"])


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


def apply_coupon_issued(fx: Effects, inc: Incoming) -> None:
    """A coupon a device issued after a sale: served to every lane from now on."""
    p = inc.payload
    if fx.conn.execute("SELECT 1 FROM coupons WHERE code = ?", (p["code"],)).fetchone():
        raise EventRejected("coupon_exists", f"coupon {p['code']} already exists")
    if p["member_id"] is not None and not fx.member_known(p["member_id"]):
        raise EventRejected("unknown_member", f"member {p['member_id']} is not known to the CRM")
    fx.conn.execute(
        "INSERT INTO coupons (code, label, body, valid_from, valid_to, member_id, updated_at,"
        " version, issued_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p["code"], p["label"], dumps(p["body"]), p["valid_from"], p["valid_to"],
         p["member_id"], fx.now, next_version(fx.conn, "coupons"), inc.event_id))


def apply_member_joined(fx: Effects, inc: Incoming) -> None:
    """Create the member who joined on a kiosk, link their wallet, credit their first sale."""
    p, conn = inc.payload, fx.conn
    member_id = p["member_id"]
    if conn.execute("SELECT 1 FROM members WHERE id = ?", (member_id,)).fetchone():
        raise EventRejected("member_exists", f"member {member_id} already exists")
    taken = next((e["entry_id"] for e in p["ledger"] if fx.entry_taken(e["entry_id"])), None)
    if taken is not None:  # checked before anything is written: a refusal leaves no trace
        raise EventRejected("duplicate_entry", f"ledger entry {taken} was already applied")
    conn.execute("INSERT INTO members (id, name, tier, code_seed, updated_at, version)"
                 " VALUES (?, ?, 'standard', ?, ?, ?)",
                 (member_id, p["name"], new_code_seed(), fx.now, next_version(conn, "members")))
    fx.member_created(member_id)
    linked = conn.execute("SELECT member_id FROM wallet_links WHERE provider = ? AND"
                          " payer_id = ?", (p["provider"], p["payer_id"])).fetchone()
    if linked is None:
        conn.execute("INSERT INTO wallet_links (provider, payer_id, member_id, event_id,"
                     " linked_at) VALUES (?, ?, ?, ?, ?)",
                     (p["provider"], p["payer_id"], member_id, inc.event_id, fx.now))
    else:  # joined twice at once on two lanes: the wallet stays with the first member
        fx.conflict(inc, "wallet_already_linked", member_id, {"linked_member_id": linked[0]})
    conn.execute("INSERT INTO member_joins (join_id, member_id, event_id, device_key, lane,"
                 " consent_version, consented_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (p["join_id"], member_id, inc.event_id, fx.device_key, p["lane"],
                  p["consent_version"], p["consented_at"]))
    credit(fx, inc, p["ledger"])


def member_entry_ids(incoming: Iterable[Incoming]) -> Iterable[str]:
    """Yield the member ledger entry ids of the events that will be applied."""
    for inc in incoming:
        if inc.effects:
            for entry in inc.payload.get("ledger", ()):
                if entry["account"].startswith("member:"):
                    yield entry["entry_id"]


def _sale_has_effects(inc: Incoming) -> bool:
    return bool(inc.payload.get("coupons")) or "guide_id" in inc.payload or any(
        e["account"].startswith("member:") for e in inc.payload["ledger"])


def _always(_inc: Incoming) -> bool:
    return True


# Event types with a meaning at the CRM beyond being stored; add one entry per such type.
APPLIERS: Mapping[str, tuple[Applier, Callable[[Incoming], bool]]] = {
    "sale.completed": (apply_sale, _sale_has_effects),
    "sale.refunded": (apply_ledger, _sale_has_effects),
    "coupon.issued": (apply_coupon_issued, _always),
    "sale.member_attached": (apply_ledger, _always),
    "member.joined": (apply_member_joined, _always),
}
