"""Ingest a push: check each event, store each exactly once, apply what it means, answer.

``parse_push`` is pure (runs off the event loop); ``ingest`` runs inside one write transaction,
so a batch is stored whole or not at all, and the answer is computed from what is committed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..events import EVENT_ENVELOPE, EventRejected, check_payload
from ..protocol import MAX_BATCH_EVENTS, MAX_PAYLOAD_BYTES, ProtocolError, loads_strict
from ..schema import SchemaError
from .db import dumps, next_version


@dataclass(slots=True)
class Incoming:
    seq: int
    event_id: str
    type: str
    occurred_at: str
    payload: dict[str, Any]
    line: str            # the event as sent: stored verbatim
    digest: str
    problem: EventRejected | None


def parse_push(raw: bytes, device_key: str) -> tuple[list[Incoming], list[dict[str, Any]]]:
    """Parse and check a push body (one JSON object per line); raise ``ProtocolError`` only
    when the batch as a whole is unusable. A bad event is marked, not raised."""
    lines = [line for line in raw.split(b"\n") if line.strip()]
    if not lines:
        raise ProtocolError("nothing to push")
    if len(lines) > MAX_BATCH_EVENTS:
        raise ProtocolError(f"more than {MAX_BATCH_EVENTS} events in one push")
    out: list[Incoming] = []
    skipped: list[dict[str, Any]] = []
    seen: set[int] = set()
    for no, line in enumerate(lines, start=1):
        try:
            value = loads_strict(line)
        except ProtocolError as err:
            raise ProtocolError(f"line {no}: {err}") from None
        if type(value) is not dict:
            raise ProtocolError(f"line {no} is not a JSON object")
        skip = value.get("skipped") if len(value) == 1 else None
        item: dict[str, Any] = skip if type(skip) is dict else value
        seq = item.get("seq")
        if type(seq) is not int or seq < 1 or seq in seen:
            raise ProtocolError(f"line {no} has no usable seq, or repeats one")
        seen.add(seq)
        if item is value:
            out.append(_incoming(value, line, seq, device_key))
        else:
            skipped.append({"seq": seq, "event_id": f"{device_key}:{seq}",
                            "code": str(item.get("code", "skipped"))[:64],
                            "message": str(item.get("message", ""))[:1000]})
    return out, skipped


def _incoming(event: dict[str, Any], line: bytes, seq: int, device_key: str) -> Incoming:
    event_id = f"{device_key}:{seq}"
    kind, at, payload = event.get("type"), event.get("occurred_at"), event.get("payload")
    inc = Incoming(seq, event_id, str(kind)[:64], str(at)[:40],
                   payload if type(payload) is dict else {}, line.decode(),
                   hashlib.sha256(line).hexdigest(), None)
    try:
        EVENT_ENVELOPE.check(event)
    except SchemaError as err:
        inc.problem = EventRejected("bad_envelope", str(err))
        return inc
    if event["event_id"] != event_id:
        inc.problem = EventRejected("wrong_device", f"event_id must be {event_id} for this "
                                    "device")
    elif len(line) > MAX_PAYLOAD_BYTES:
        inc.problem = EventRejected("too_large", f"event over {MAX_PAYLOAD_BYTES} bytes")
    else:
        try:
            check_payload(inc.type, payload)
        except EventRejected as err:
            inc.problem = err
    return inc


# -- what an event means at the CRM ------------------------------------------------------------

Conflicts = list[tuple[str, str, dict[str, Any]]]     # kind, subject, detail
Applier = Callable[[sqlite3.Connection, str, Incoming, str], Conflicts]


def _member_deltas(payload: dict[str, Any]) -> list[tuple[str, str, str, int, str]]:
    """Return (entry_id, member_id, balance, delta, reason) of the payload's member ledger."""
    out = []
    for entry in payload["ledger"]:
        kind, ident, balance = entry["account"].split(":")
        if kind == "member" and balance in ("points", "stored_value"):
            out.append((entry["entry_id"], ident, balance, entry["delta"], entry["reason"]))
    return out


def apply_sale(conn: sqlite3.Connection, device_key: str, inc: Incoming, now: str) -> Conflicts:
    """Apply member ledger deltas and coupon redemptions; raise ``EventRejected`` first."""
    deltas = _member_deltas(inc.payload)
    for entry_id, member_id, _balance, _delta, _reason in deltas:
        if conn.execute("SELECT 1 FROM members WHERE id = ? AND deleted = 0",
                        (member_id,)).fetchone() is None:
            raise EventRejected("unknown_member", f"member {member_id} is not known to the CRM")
        if conn.execute("SELECT 1 FROM member_ledger WHERE entry_id = ?",
                        (entry_id,)).fetchone():
            raise EventRejected("duplicate_entry", f"ledger entry {entry_id} was already "
                                "applied by another event")
    for entry_id, member_id, balance, delta, reason in deltas:
        conn.execute("INSERT INTO member_ledger (entry_id, member_id, balance, delta, reason,"
                     " event_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (entry_id, member_id, balance, delta, reason, inc.event_id, now))
        column = "points_balance" if balance == "points" else "stored_value_fen"
        conn.execute(f"UPDATE members SET {column} = {column} + ?, version = ?,"  # noqa: S608
                     " updated_at = ? WHERE id = ?",
                     (delta, next_version(conn, "members"), now, member_id))
    return _redeem(conn, device_key, inc, now)


def _redeem(conn: sqlite3.Connection, device_key: str, inc: Incoming, now: str) -> Conflicts:
    conflicts: Conflicts = []
    for use in inc.payload.get("coupons", ()):
        code = use["code"]
        row = conn.execute("SELECT redeemed_event_id, redeemed_at FROM coupons"
                           " WHERE code = ? AND deleted = 0", (code,)).fetchone()
        if row is None:
            conflicts.append(("coupon_unknown", code, {"amount_fen": use["amount_fen"]}))
        elif row[0] is None:
            conn.execute("UPDATE coupons SET redeemed_at = ?, redeemed_event_id = ?,"
                         " version = ?, updated_at = ? WHERE code = ?",
                         (inc.occurred_at, inc.event_id, next_version(conn, "coupons"), now,
                          code))
        elif row[0] != inc.event_id:
            first_device = row[0].rsplit(":", 1)[0]
            conflicts.append(("coupon_already_redeemed", code, {
                "first_event_id": row[0], "first_device": first_device,
                "first_redeemed_at": row[1], "amount_fen": use["amount_fen"]}))
    return conflicts


APPLIERS: Mapping[str, Applier] = {"sale.completed": apply_sale}


# -- the transaction ---------------------------------------------------------------------------

def ingest(conn: sqlite3.Connection, device_key: str, incoming: list[Incoming],
           skipped: list[dict[str, Any]], now: str) -> dict[str, Any]:
    """Store, apply and answer one push; runs inside the caller's write transaction."""
    seqs = [i.seq for i in incoming] + [s["seq"] for s in skipped]
    low, high = min(seqs), max(seqs)
    stored = dict(conn.execute("SELECT seq, digest FROM events WHERE device_key = ?"
                               " AND seq BETWEEN ? AND ?", (device_key, low, high)).fetchall())
    rejected: list[dict[str, Any]] = []
    new_rows: list[tuple[Any, ...]] = []
    accepted: list[int] = []
    for inc in incoming:
        if inc.seq in stored:
            if stored[inc.seq] != inc.digest:
                rejected.append(_reject(conn, device_key, inc, EventRejected(
                    "conflicting_duplicate", "this event id is stored with a different content"),
                    now, keep_stored=True))
            continue
        problem = inc.problem or _apply(conn, device_key, inc, now)
        if problem is not None:
            rejected.append(_reject(conn, device_key, inc, problem, now))
            continue
        new_rows.append((device_key, inc.seq, inc.event_id, inc.type, inc.occurred_at,
                         inc.line, inc.digest, now))
        accepted.append(inc.seq)
    conn.executemany("INSERT INTO events (device_key, seq, event_id, type, occurred_at, body,"
                     " digest, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", new_rows)
    if accepted:
        conn.executemany("DELETE FROM rejections WHERE device_key = ? AND seq = ?",
                         [(device_key, s) for s in accepted])
    for skip in skipped:
        if skip["seq"] not in stored:
            conn.execute("INSERT OR REPLACE INTO rejections (device_key, seq, event_id, type,"
                         " origin, code, message, at) VALUES (?, ?, ?, NULL, 'edge', ?, ?, ?)",
                         (device_key, skip["seq"], skip["event_id"], skip["code"],
                          skip["message"], now))
    acked = _advance(conn, device_key, high)
    conflicts = [{"seq": r[0], "event_id": r[1], "kind": r[2], "subject": r[3],
                  "detail": json.loads(r[4])} for r in conn.execute(
        "SELECT seq, event_id, kind, subject, detail FROM conflicts WHERE device_key = ?"
        " AND seq BETWEEN ? AND ? ORDER BY id", (device_key, low, high))
        if r[0] in set(seqs)]
    return {"acked_through_seq": acked, "rejected": rejected, "conflicts": conflicts}


def _apply(conn: sqlite3.Connection, device_key: str, inc: Incoming,
           now: str) -> EventRejected | None:
    applier = APPLIERS.get(inc.type)
    if applier is None:
        return None
    # Cheap path: a sale with no member and no coupon has nothing to apply.
    if inc.type == "sale.completed" and not inc.payload.get("coupons") and not any(
            e["account"].startswith("member:") for e in inc.payload["ledger"]):
        return None
    # A savepoint, so that an applier refusing the event half-way leaves nothing behind.
    conn.execute("SAVEPOINT apply_event")
    try:
        found = applier(conn, device_key, inc, now)
    except EventRejected as err:
        conn.execute("ROLLBACK TO apply_event")
        conn.execute("RELEASE apply_event")
        return err
    conn.execute("RELEASE apply_event")
    for kind, subject, detail in found:
        conn.execute("INSERT OR IGNORE INTO conflicts (device_key, seq, event_id, kind, subject,"
                     " detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (device_key, inc.seq, inc.event_id, kind, subject, dumps(detail), now))
    return None


def _reject(conn: sqlite3.Connection, device_key: str, inc: Incoming, problem: EventRejected,
            now: str, *, keep_stored: bool = False) -> dict[str, Any]:
    seq, event_id, kind = inc.seq, inc.event_id, inc.type
    if not keep_stored:
        conn.execute("INSERT OR REPLACE INTO rejections (device_key, seq, event_id, type, origin,"
                     " code, message, at) VALUES (?, ?, ?, ?, 'crm', ?, ?, ?)",
                     (device_key, seq, event_id, kind, problem.code, problem.message[:1000],
                      now))
    return {"seq": seq, "event_id": event_id, "code": problem.code,
            "message": problem.message[:1000]}


def _advance(conn: sqlite3.Connection, device_key: str, high: int) -> int:
    """Move the device's watermark over every settled seq (stored or rejected); return it."""
    mark = int(conn.execute("SELECT acked_through_seq FROM devices WHERE device_key = ?",
                            (device_key,)).fetchone()[0])
    while True:
        settled = {r[0] for r in conn.execute(
            "SELECT seq FROM events WHERE device_key = ? AND seq > ? AND seq <= ?"
            " UNION SELECT seq FROM rejections WHERE device_key = ? AND seq > ? AND seq <= ?",
            (device_key, mark, high, device_key, mark, high))}
        start = mark
        while mark + 1 in settled:
            mark += 1
        if mark < high or mark == start:
            break
        high = mark + MAX_BATCH_EVENTS     # events that arrived early may continue the run
    conn.execute("UPDATE devices SET acked_through_seq = ?, last_seen_at = datetime('now')"
                 " WHERE device_key = ?", (mark, device_key))
    return mark
