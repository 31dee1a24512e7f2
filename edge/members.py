"""Who the shopper is, and whether they may spend: member codes, phone numbers, balances.

Spending stored value or points needs more than being recognised (docs/loyalty.md):

| identified by | member prices, coupons, points earned | spending needs first |
|---|---|---|
| rotating member code | yes | nothing more |
| static member code (demo only) | yes | the phone's last 4 digits |
| face | yes | the phone's last 4 digits |
| phone number (+ last 4 confirmed) | yes | the rotating member code |

Typing the last 4 digits of a number one has just typed proves nothing, so a phone-identified
shopper shows the member code on their phone (what they have) before spending; a face or a
copyable static code is backed by the last 4 digits (what they know).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sync import member_code
from sync.offline import read_facts

from .cart import CartMember
from .catalog import Member
from .loyalty_config import MembersConfig
from .loyalty_state import CartLoyalty, Need

PHONE = re.compile(r"1[3-9][0-9]{9}")
LAST4 = re.compile(r"[0-9]{4}")
CodeResult = Literal["member_identified", "member_code_expired", "member_code_reused",
                     "member_not_found"]


def mask_name(name: str) -> str:
    """Show a name the way a receipt does: 张伟 -> 张*, 张小伟 -> 张*伟, Alice -> A***e."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str | None:
    return None if not phone else (phone[:3] + "****" + phone[-4:] if len(phone) >= 8
                                   else "*" * len(phone))


def spend_need(member: CartMember | None, loyalty: CartLoyalty) -> Need | None:
    """Return what the shopper must show before spending, or None when they may."""
    if member is None or loyalty.verified:
        return None
    return "member_code" if member.identified_by == "phone" else "phone_last4"


def can_spend(member: CartMember | None, loyalty: CartLoyalty) -> bool:
    return member is not None and spend_need(member, loyalty) is None


# -- member codes ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CodeOutcome:
    result: CodeResult
    member: Member | None = None
    step: int | None = None
    static: bool = False


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[str, ...]) -> list[sqlite3.Row]:
    cur = conn.execute(sql, params)
    cur.row_factory = sqlite3.Row
    return cur.fetchall()


def _member(row: sqlite3.Row | None) -> Member | None:
    if row is None:
        return None
    return Member(row["id"], row["name"], row["phone"], row["member_code"], row["tier"],
                  row["points_balance"], row["stored_value_fen"])


def resolve_member_code(  # noqa: PLR0911 - one answer per case a screen tells apart
        conn: sqlite3.Connection, payload: str, config: MembersConfig, *, lane: str,
        cart_id: str, now_s: float) -> CodeOutcome:
    """Say what a scanned member-code payload (without ``MC``) means at ``now_s``."""
    parsed = member_code.parse_payload(payload)
    if parsed is None:
        if not config.accept_static_codes:
            return CodeOutcome("member_not_found")
        rows = _rows(conn, "SELECT * FROM members WHERE member_code = ?", (payload,))
        member = _member(rows[0] if rows else None)
        return CodeOutcome("member_identified", member, static=True) if member \
            else CodeOutcome("member_not_found")
    member_id, otp = parsed
    rows = _rows(conn, "SELECT * FROM members WHERE id = ?", (member_id,))
    row = rows[0] if rows else None
    if row is None or not row["code_seed"]:
        return CodeOutcome("member_not_found")
    try:
        found = member_code.check(row["code_seed"], otp, now_s, step_s=config.code_step_s,
                                  drift_steps=config.code_drift_steps)
    except member_code.BadSeed:
        return CodeOutcome("member_not_found")
    if found.outcome == "invalid":
        return CodeOutcome("member_not_found")
    if found.outcome == "expired":
        return CodeOutcome("member_code_expired", _member(row), found.step)
    assert found.step is not None
    if step_taken(conn, member_id, found.step, lane=lane, cart_id=cart_id):
        return CodeOutcome("member_code_reused", _member(row), found.step)
    return CodeOutcome("member_identified", _member(row), found.step)


def step_taken(conn: sqlite3.Connection, member_id: str, step: int, *, lane: str,
               cart_id: str) -> bool:
    """Whether ``step`` (or a later one) was already taken, other than by this same cart."""
    row = conn.execute("SELECT last_step, lane, cart_id FROM member_code_steps"
                       " WHERE member_id = ?", (member_id,)).fetchone()
    if row is None or row[0] < step:
        return False
    return not (row[0] == step and row[1] == lane and row[2] == cart_id)


class CodeReused(Exception):
    """Another lane took the same code between the check and the write."""


def take_step(conn: sqlite3.Connection, member_id: str, step: int, *, lane: str, cart_id: str,
              at: str) -> None:
    """Record ``step`` as used, inside the transaction that attaches the member."""
    if step_taken(conn, member_id, step, lane=lane, cart_id=cart_id):
        raise CodeReused(member_id)
    conn.execute(
        "INSERT INTO member_code_steps (member_id, last_step, lane, cart_id, accepted_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
        " last_step = excluded.last_step, lane = excluded.lane, cart_id = excluded.cart_id,"
        " accepted_at = excluded.accepted_at", (member_id, step, lane, cart_id, at))


# -- phone numbers -----------------------------------------------------------------------------

def members_by_phone(conn: sqlite3.Connection, phone: str) -> list[Member]:
    rows = _rows(conn, "SELECT * FROM members WHERE phone = ? ORDER BY id LIMIT 2", (phone,))
    return [m for m in (_member(r) for r in rows) if m is not None]


class LookupLimiter:
    """At most ``limit`` look-ups per ``window_s`` on one lane (someone trying numbers)."""

    def __init__(self, limit: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._window, self._clock = limit, window_s, clock
        self._times: deque[float] = deque()

    def wait_s(self) -> float:
        """Return 0 and count a look-up when one is allowed, else the seconds to wait."""
        now = self._clock()
        while self._times and now - self._times[0] >= self._window:
            self._times.popleft()
        if len(self._times) >= self._limit:
            return self._window - (now - self._times[0])
        self._times.append(now)
        return 0.0


@dataclass(frozen=True, slots=True)
class PhonePending:
    """A member found by phone number, waiting for the shopper to confirm the last 4 digits."""

    member: Member
    expires_at: float
    attempts_left: int


# -- balances ----------------------------------------------------------------------------------

def points_available(conn: sqlite3.Connection, member_id: str) -> int:
    """The member's points as of the CRM plus this device's deltas the CRM had not counted."""
    row = conn.execute("SELECT points_balance, crm_seq FROM members WHERE id = ?",
                       (member_id,)).fetchone()
    if row is None:
        return 0
    local = conn.execute(
        "SELECT coalesce(sum(l.delta), 0) FROM ledger l JOIN sales s ON s.id = l.sale_id"
        " LEFT JOIN sale_members_attached a ON a.sale_id = s.id"
        " WHERE l.account = ? AND coalesce(a.outbox_seq, s.outbox_seq) > ?",
        (f"member:{member_id}:points", int(row[1]))).fetchone()[0]
    return int(row[0]) + int(local)


def balances(conn: sqlite3.Connection, member_id: str) -> tuple[int, int]:
    """Return (points, stored value in fen) available to the member at this device."""
    return points_available(conn, member_id), read_facts(conn, member_id).member_available_fen
