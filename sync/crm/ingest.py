"""Ingest a push: check each event, store each exactly once, apply what it means, answer.

``parse_push`` is pure (runs off the event loop); ``ingest`` runs inside one write transaction,
so a batch is stored whole or not at all, and the answer is computed from what is committed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import msgspec

from ..events import EVENT_ENVELOPE, EventRejected, check_payload, fast_event
from ..protocol import MAX_BATCH_EVENTS, MAX_PAYLOAD_BYTES, ProtocolError, loads_strict
from ..schema import SchemaError
from .effects import APPLIERS, Effects, member_entry_ids

SEQ_BITS = 40   # a device may send 2^40 events; events.id = device rowid << 40 | seq


@dataclass(slots=True)
class Incoming:
    seq: int
    event_id: str
    type: str
    occurred_at: str
    payload: dict[str, Any]
    raw: bytes           # the event's line as sent, its UTF-8 checked: stored verbatim
    digest: str
    problem: EventRejected | None
    alone: bool = False  # the line was parsed by itself (fast path), so it is JSON alone
    effects: bool = False  # accepted, it changes more than the event log (see APPLIERS)

    def wire(self) -> tuple[Any, ...]:
        """This event as plain values for a parser process to send back.

        No payload: pickling a third of the events' payloads (those with effects) cost the
        server more than decoding their lines again (``from_wire``). The line goes as its
        bytes, which pickle copies, where a str is encoded and decoded on the way.
        """
        problem = self.problem
        return (self.seq, self.event_id, self.type, self.occurred_at, self.raw, self.digest,
                None if problem is None else (problem.code, problem.message),
                self.alone, self.effects)

    @classmethod
    def from_wire(cls, values: tuple[Any, ...]) -> Incoming:
        """Rebuild an event a parser process checked; decode the payload only if it has
        effects (the parser fitted it to its schema already)."""
        seq, event_id, kind, at, raw, digest, problem, alone, effects = values
        payload: dict[str, Any] = {}
        if effects:
            try:
                payload = msgspec.json.decode(raw)["payload"]
            except msgspec.DecodeError:   # a line that parsed only with its neighbours
                raise ProtocolError(f"the event line of seq {seq} is not JSON on its own"
                                    ) from None
        return cls(seq, event_id, kind, at, payload, raw, digest,
                   None if problem is None else EventRejected(*problem), alone, effects)


def parse_push(raw: bytes, device_key: str) -> tuple[list[Incoming], list[dict[str, Any]]]:
    """Parse and check a push body (one JSON object per line); raise ``ProtocolError`` only
    when the batch as a whole is unusable. A bad event is marked, not raised."""
    lines = [line for line in raw.split(b"\n") if line.strip()]
    if not lines:
        raise ProtocolError("nothing to push")
    if len(lines) > MAX_BATCH_EVENTS:
        raise ProtocolError(f"more than {MAX_BATCH_EVENTS} events in one push")
    try:  # the whole body at once: each line is stored as the bytes that came
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("the body is not UTF-8") from None
    values: list[Any] = [fast_event(line) for line in lines]
    checked = [value is not None for value in values]
    if not all(checked):  # what the fast path declined takes the schemas' own path
        slow = iter(_parse_lines([line.decode("utf-8") for line, ok
                                  in zip(lines, checked, strict=True) if not ok]))
        values = [value if ok else next(slow) for value, ok in zip(values, checked, strict=True)]
    out: list[Incoming] = []
    skipped: list[dict[str, Any]] = []
    seen: set[int] = set()
    for no, (raw_line, value, ok) in enumerate(zip(lines, values, checked, strict=True), 1):
        if type(value) is not dict:
            raise ProtocolError(f"line {no} is not a JSON object")
        skip = value.get("skipped") if len(value) == 1 else None
        item: dict[str, Any] = skip if type(skip) is dict else value
        seq = item.get("seq")
        if type(seq) is not int or not 0 < seq < 1 << SEQ_BITS or seq in seen:
            raise ProtocolError(f"line {no} has no usable seq, or repeats one")
        seen.add(seq)
        if item is value:
            out.append(_incoming(value, raw_line, seq, device_key, checked=ok))
        else:
            skipped.append({"seq": seq, "event_id": f"{device_key}:{seq}",
                            "code": str(item.get("code", "skipped"))[:64],
                            "message": str(item.get("message", ""))[:1000]})
    return out, skipped


def _parse_lines(texts: list[str]) -> list[Any]:
    """Parse every line; one parse of them all as an array when that lines up, line by line
    (to name the bad one) when not.

    One call shares the parser's memo of object keys across all events, which makes the
    whole batch about a third cheaper than a call per line. Lines that only parse joined
    (a string running across a line break) are caught before they are stored: ``ingest``
    checks each such line alone, and the batch is refused.
    """
    try:
        values = loads_strict("[" + ",".join(texts) + "]", unique_keys=False)
    except ProtocolError:
        values = None
    if type(values) is list and len(values) == len(texts):
        return values
    out = []
    for no, text in enumerate(texts, start=1):
        try:
            out.append(loads_strict(text, unique_keys=False))
        except ProtocolError as err:
            raise ProtocolError(f"line {no}: {err}") from None
    return out


def _incoming(event: dict[str, Any], raw: bytes, seq: int, device_key: str, *,
              checked: bool = False) -> Incoming:
    """Build the event to store; ``checked`` when the fast path already fitted its schemas."""
    event_id = f"{device_key}:{seq}"
    kind, at, payload = event.get("type"), event.get("occurred_at"), event.get("payload")
    inc = Incoming(seq, event_id, str(kind)[:64], str(at)[:40],
                   payload if type(payload) is dict else {}, raw,
                   hashlib.sha256(raw).hexdigest(), None, checked)
    if not checked:
        try:
            EVENT_ENVELOPE.validate(event)
        except SchemaError as err:
            inc.problem = EventRejected("bad_envelope", str(err))
            return inc
    if event["event_id"] != event_id:
        inc.problem = EventRejected("wrong_device", f"event_id must be {event_id} for this "
                                    "device")
    elif len(raw) > MAX_PAYLOAD_BYTES:
        inc.problem = EventRejected("too_large", f"event over {MAX_PAYLOAD_BYTES} bytes")
    else:
        try:
            check_payload(inc.type, payload, schema_checked=checked)
        except EventRejected as err:
            inc.problem = err
    if inc.problem is None:
        applier = APPLIERS.get(inc.type)
        inc.effects = applier is not None and applier[1](inc)
    return inc


# -- the transaction ---------------------------------------------------------------------------

def ingest(conn: sqlite3.Connection, device_key: str, incoming: list[Incoming],
           skipped: list[dict[str, Any]], now: str) -> dict[str, Any]:
    """Store, apply and answer one push; runs inside the caller's write transaction."""
    seqs = [i.seq for i in incoming] + [s["seq"] for s in skipped]
    low, high = min(seqs), max(seqs)
    base = event_base(conn, device_key)
    stored = dict(conn.execute("SELECT seq, digest FROM events WHERE id BETWEEN ? AND ?",
                               (base + low, base + high)).fetchall())
    rejected: list[dict[str, Any]] = []
    fx = Effects(conn, device_key, now)
    fx.look_up_entries(member_entry_ids(i for i in incoming if i.seq not in stored))
    new_rows: list[tuple[Any, ...]] = []
    accepted: list[int] = []
    for inc in incoming:
        if inc.seq in stored:
            if stored[inc.seq] != inc.digest:
                rejected.append(_reject(conn, device_key, inc, EventRejected(
                    "conflicting_duplicate", "this event id is stored with a different content"),
                    now, keep_stored=True))
            continue
        problem = inc.problem or _apply(fx, inc)
        if problem is not None:
            rejected.append(_reject(conn, device_key, inc, problem, now))
            continue
        if not inc.alone and not _json_alone(conn, inc.raw):
            raise ProtocolError(f"the event line of seq {inc.seq} is not JSON on its own")
        new_rows.append((base + inc.seq, device_key, inc.seq, inc.event_id, inc.type,
                         inc.occurred_at, inc.raw, inc.digest, now))
        accepted.append(inc.seq)
    # The body goes in as the bytes that came (their UTF-8 was checked at parse) cast to TEXT:
    # the same stored value as a str, without decoding it and encoding it back.
    conn.executemany("INSERT INTO events (id, device_key, seq, event_id, type, occurred_at,"
                     " body, digest, received_at) VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?)",
                     new_rows)
    fx.flush()
    if accepted:  # an event refused before and accepted now is no longer a rejection
        accepted_set = set(accepted)
        settled = [(device_key, r[0]) for r in conn.execute(
            "SELECT seq FROM rejections WHERE device_key = ? AND seq BETWEEN ? AND ?",
            (device_key, low, high)) if r[0] in accepted_set]
        conn.executemany("DELETE FROM rejections WHERE device_key = ? AND seq = ?", settled)
    for skip in skipped:
        if skip["seq"] not in stored:
            conn.execute("INSERT OR REPLACE INTO rejections (device_key, seq, event_id, type,"
                         " origin, code, message, at) VALUES (?, ?, ?, NULL, 'edge', ?, ?, ?)",
                         (device_key, skip["seq"], skip["event_id"], skip["code"],
                          skip["message"], now))
    acked = _advance(conn, device_key, base, high)
    conflicts = [{"seq": r[0], "event_id": r[1], "kind": r[2], "subject": r[3],
                  "detail": json.loads(r[4])} for r in conn.execute(
        "SELECT seq, event_id, kind, subject, detail FROM conflicts WHERE device_key = ?"
        " AND seq BETWEEN ? AND ? ORDER BY id", (device_key, low, high))
        if r[0] in set(seqs)]
    return {"acked_through_seq": acked, "rejected": rejected, "conflicts": conflicts}


def _json_alone(conn: sqlite3.Connection, line: bytes) -> bool:
    """Tell whether a line parsed with its neighbours is JSON by itself (what is stored must
    be: ``events.body`` is read back with SQLite's JSON functions)."""
    return bool(conn.execute("SELECT json_valid(CAST(? AS TEXT))", (line,)).fetchone()[0])


def _apply(fx: Effects, inc: Incoming) -> EventRejected | None:
    if not inc.effects:
        return None
    try:
        APPLIERS[inc.type][0](fx, inc)
    except EventRejected as err:
        return err
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


def event_base(conn: sqlite3.Connection, device_key: str) -> int:
    """Return the first event id of a device (its rowid << 40; seq is added to it)."""
    row = conn.execute("SELECT rowid FROM devices WHERE device_key = ?", (device_key,)).fetchone()
    if row is None:
        raise ProtocolError(f"device {device_key} is not registered")
    return int(row[0]) << SEQ_BITS


def _advance(conn: sqlite3.Connection, device_key: str, base: int, high: int) -> int:
    """Move the device's watermark over every settled seq (stored or rejected); return it."""
    mark = int(conn.execute("SELECT acked_through_seq FROM devices WHERE device_key = ?",
                            (device_key,)).fetchone()[0])
    while True:
        settled = {r[0] for r in conn.execute(
            "SELECT seq FROM events WHERE id > ? AND id <= ?"
            " UNION SELECT seq FROM rejections WHERE device_key = ? AND seq > ? AND seq <= ?",
            (base + mark, base + high, device_key, mark, high))}
        start = mark
        while mark + 1 in settled:
            mark += 1
        if mark < high or mark == start:
            break
        high = mark + MAX_BATCH_EVENTS     # events that arrived early may continue the run
    conn.execute("UPDATE devices SET acked_through_seq = ?, last_seen_at = datetime('now')"
                 " WHERE device_key = ?", (mark, device_key))
    return mark
