"""The edge's side of the push, as plain functions over a sqlite3 connection.

Reads run on the store's thread through ``Store.read``; ``record_push`` runs inside
``Store.write``, so a push result (cursor, dead letters, conflicts) is recorded all at once or
not at all. A crash between the CRM's answer and this transaction only means the same events
are sent again, and the CRM recognises them by event id.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.cart import utc_now

from .messages import PushResult

_LOGGER = logging.getLogger(__name__)

Row = tuple[int, str, str, str, str]   # seq, event_id, type, occurred_at, payload JSON


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event the edge could not send (dead-lettered here); the CRM is told to step past it."""

    seq: int
    event_id: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "event_id": self.event_id, "code": self.code,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class Batch:
    rows: tuple[Row, ...]
    skipped: tuple[Skipped, ...]
    retry: bool          # dead letters sent again on request, not the head of the queue
    cursor: int          # acked_through_seq when the batch was read

    @property
    def ack_limit(self) -> int:
        """The highest seq an answer to this batch may acknowledge."""
        return max([self.cursor, *self.seqs, *(s.seq for s in self.skipped)])

    @property
    def seqs(self) -> frozenset[int]:
        return frozenset(r[0] for r in self.rows)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """What the console shows about the queue."""

    acked_through_seq: int
    last_seq: int
    pending_count: int
    pending_fen: int
    oldest_pending_at: str | None
    dead_letters: int
    dead_letter_retries: int
    conflicts: int


def acked_through(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT acked_through_seq FROM sync_push WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def read_batch(conn: sqlite3.Connection, max_events: int, max_bytes: int, *,
               after: int | None = None) -> Batch:
    """Return the next events after the cursor (or ``after``), bounded in count and bytes."""
    cursor = acked_through(conn)
    start = cursor if after is None else after
    skipped = tuple(Skipped(r[0], r[1], r[2], r[3]) for r in conn.execute(
        "SELECT seq, event_id, code, message FROM sync_dead_letters"
        " WHERE origin = 'edge' AND seq > ? ORDER BY seq LIMIT ?", (start, max_events)))
    local = {s.seq for s in skipped}
    rows: list[Row] = []
    size = 0
    # Fetch a little more than needed so that locally dead-lettered rows do not shrink it.
    for row in conn.execute(
            "SELECT seq, event_id, type, occurred_at, payload FROM outbox WHERE seq > ?"
            " ORDER BY seq LIMIT ?", (start, max_events + len(local))):
        if row[0] in local:
            continue
        size += len(row[4]) + 120
        if rows and (size > max_bytes or len(rows) >= max_events):
            break
        rows.append(row)
    return Batch(tuple(rows), skipped, retry=False, cursor=cursor)


def read_retries(conn: sqlite3.Connection, max_events: int, max_bytes: int) -> Batch:
    """Return dead letters store IT asked to send again (settled seqs, behind the cursor)."""
    cursor = acked_through(conn)
    rows: list[Row] = []
    size = 0
    for row in conn.execute(
            "SELECT o.seq, o.event_id, o.type, o.occurred_at, o.payload FROM sync_dead_letters d"
            " JOIN outbox o ON o.seq = d.seq WHERE d.retry_requested = 1 AND d.seq <= ?"
            " ORDER BY d.seq LIMIT ?", (cursor, max_events)):
        size += len(row[4]) + 120
        if rows and size > max_bytes:
            break
        rows.append(row)
    return Batch(tuple(rows), (), retry=True, cursor=cursor)


def record_push(conn: sqlite3.Connection, batch: Batch, result: PushResult) -> int:
    """Record the CRM's answer to ``batch``; return the new cursor."""
    now = utc_now()
    types = {r[0]: r[2] for r in batch.rows}
    rejected = {r.seq: r for r in result.rejected}
    for r in result.rejected:
        conn.execute(
            "INSERT INTO sync_dead_letters (seq, event_id, type, origin, code, message,"
            " first_failed_at, last_failed_at) VALUES (?, ?, ?, 'crm', ?, ?, ?, ?)"
            " ON CONFLICT (seq) DO UPDATE SET origin = 'crm', code = excluded.code,"
            " message = excluded.message, attempts = attempts + 1,"
            " last_failed_at = excluded.last_failed_at, retry_requested = 0",
            (r.seq, r.event_id, types.get(r.seq, "?"), r.code, r.message[:1000], now, now))
    for c in result.conflicts:
        conn.execute(
            "INSERT OR IGNORE INTO sync_conflicts (seq, event_id, kind, subject, detail,"
            " reported_at) VALUES (?, ?, ?, ?, ?, ?)",
            (c.seq, c.event_id, c.kind, c.subject,
             json.dumps(c.detail, ensure_ascii=False, separators=(",", ":")), now))
    if batch.retry:
        stored = [s for s in batch.seqs if s <= result.acked_through_seq and s not in rejected]
        conn.executemany("DELETE FROM sync_dead_letters WHERE seq = ?", [(s,) for s in stored])
        if stored:
            _LOGGER.info("Dead letters accepted on retry: %s", sorted(stored))
        return acked_through(conn)
    # A CRM that does not count refused events as settled would otherwise hold the queue
    # behind them forever; a refused event right after the cursor is settled here.
    cursor = result.acked_through_seq
    previous = acked_through(conn)
    if batch.cursor <= cursor < previous:
        # With two pushes in flight the CRM may have answered this one before the one whose
        # answer was recorded last: not a loss, only older news. (A CRM restored from a
        # backup answers below the cursor this batch was read at.)
        cursor = previous
    settled = set(rejected) | {s.seq for s in batch.skipped}
    while cursor + 1 in settled:
        cursor += 1
    if cursor < previous:
        _LOGGER.warning("The CRM acknowledges only up to seq %d (we had %d): sending again "
                        "from there (was the CRM restored from a backup?)", cursor, previous)
    conn.execute("UPDATE sync_push SET acked_through_seq = ?, updated_at = ? WHERE id = 1",
                 (cursor, now))
    return cursor


def dead_letter_locally(conn: sqlite3.Connection, row: Row, code: str, message: str) -> None:
    """Dead-letter an event the CRM cannot take at all (too large, refused alone)."""
    now = utc_now()
    conn.execute(
        "INSERT INTO sync_dead_letters (seq, event_id, type, origin, code, message,"
        " first_failed_at, last_failed_at) VALUES (?, ?, ?, 'edge', ?, ?, ?, ?)"
        " ON CONFLICT (seq) DO UPDATE SET origin = 'edge', code = excluded.code,"
        " message = excluded.message, attempts = attempts + 1,"
        " last_failed_at = excluded.last_failed_at, retry_requested = 0",
        (row[0], row[1], row[2], code, message[:1000], now, now))


def request_retry(conn: sqlite3.Connection, seqs: Iterable[int] | None = None) -> int:
    """Mark dead letters (all, or these seqs) to be sent again; return how many."""
    if seqs is None:
        cur = conn.execute("UPDATE sync_dead_letters SET retry_requested = 1")
        return cur.rowcount
    return sum(conn.execute("UPDATE sync_dead_letters SET retry_requested = 1 WHERE seq = ?",
                            (seq,)).rowcount for seq in seqs)


def has_retries(conn: sqlite3.Connection) -> bool:
    """Whether ``read_retries`` has anything to send (the same condition, or the queue stalls)."""
    return conn.execute(
        "SELECT 1 FROM sync_dead_letters WHERE retry_requested = 1 AND seq <= ? LIMIT 1",
        (acked_through(conn),)).fetchone() is not None


def dead_letters(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT seq, event_id, type, origin, code, message, attempts, first_failed_at,"
        " last_failed_at, retry_requested FROM sync_dead_letters ORDER BY seq LIMIT ?", (limit,))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def conflicts(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT seq, event_id, kind, subject, detail, reported_at FROM sync_conflicts"
        " ORDER BY id DESC LIMIT ?", (limit,))
    out = []
    for seq, event_id, kind, subject, detail, at in cur.fetchall():
        out.append({"seq": seq, "event_id": event_id, "kind": kind, "subject": subject,
                    "detail": json.loads(detail), "reported_at": at})
    return out


@dataclass(slots=True)
class PendingSum:
    """Fen of sales with outbox_seq in (low, high], kept up to date by small range sums.

    Summing every pending sale at each refresh would scan a weekend's backlog every two
    seconds on the store's only connection; moving the two ends costs only what changed.
    """

    low: int = -1
    high: int = 0
    fen: int = 0

    def update(self, conn: sqlite3.Connection, low: int, high: int) -> int:
        if low < self.low or self.low < 0 or high < self.high:
            self.low, self.high, self.fen = low, low, 0     # rewound: start over
        self.fen -= _fen_between(conn, self.low, low)
        self.fen += _fen_between(conn, self.high, high)
        self.low, self.high = low, high
        return self.fen


def _fen_between(conn: sqlite3.Connection, after: int, through: int) -> int:
    if through <= after:
        return 0
    return int(conn.execute("SELECT coalesce(sum(total_fen), 0) FROM sales"
                            " WHERE outbox_seq > ? AND outbox_seq <= ?",
                            (after, through)).fetchone()[0])


def queue_figures(conn: sqlite3.Connection, pending: PendingSum | None = None) -> QueueFigures:
    """Count what the CRM does not have yet; cheap even with a million events pending."""
    cursor = acked_through(conn)
    last = conn.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
    dead, retries = conn.execute(
        "SELECT count(*), coalesce(sum(retry_requested), 0) FROM sync_dead_letters").fetchone()
    local_ahead = conn.execute(
        "SELECT count(*) FROM sync_dead_letters WHERE seq > ?", (cursor,)).fetchone()[0]
    queued_fen = (pending or PendingSum()).update(conn, cursor, last)
    pending_fen = queued_fen + conn.execute(
        "SELECT coalesce(sum(s.total_fen), 0) FROM sync_dead_letters d"
        " JOIN sales s ON s.outbox_seq = d.seq WHERE d.seq <= ?", (cursor,)).fetchone()[0]
    heads = [r[0] for r in conn.execute(
        "SELECT min(occurred_at) FROM (SELECT occurred_at FROM outbox WHERE seq = ("
        "  SELECT min(seq) FROM outbox WHERE seq > ?)"
        " UNION ALL SELECT o.occurred_at FROM sync_dead_letters d JOIN outbox o ON o.seq = d.seq)",
        (cursor,)) if r[0]]
    conflicts_n = conn.execute("SELECT count(*) FROM sync_conflicts").fetchone()[0]
    return QueueFigures(cursor, last, max(0, last - cursor - local_ahead), int(pending_fen),
                        heads[0] if heads else None, int(dead), int(retries), int(conflicts_n))


def outbox_rows(conn: sqlite3.Connection, seqs: Sequence[int]) -> list[Row]:
    return [conn.execute("SELECT seq, event_id, type, occurred_at, payload FROM outbox"
                         " WHERE seq = ?", (s,)).fetchone() for s in seqs]
