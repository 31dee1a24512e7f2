"""The console's view of dead letters (``edge.ports.DeadLetterQueue``) over sync's tables.

The console lists the letters waiting for store IT. A retried letter is back in the push
queue and leaves the list; if the CRM refuses it again, the pusher records it again and it
returns. A retry is audited in the same transaction that marks it, then the pusher is nudged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge.audit import record_audit
from edge.store import Store

from . import outbox
from .client import SyncClient


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event_id: str
    seq: int
    type: str
    reason: str
    failed_at: str
    attempts: int


def _listed(conn: sqlite3.Connection, limit: int, before_seq: int | None) -> list[DeadLetter]:
    rows = conn.execute(
        "SELECT event_id, seq, type, code, message, last_failed_at, attempts"
        " FROM sync_dead_letters WHERE retry_requested = 0 AND seq < ?"
        " ORDER BY seq DESC LIMIT ?",
        (before_seq if before_seq is not None else 2**62, max(1, min(limit, 1000)))).fetchall()
    return [DeadLetter(event_id, seq, kind, f"{code}: {message}", at, attempts)
            for event_id, seq, kind, code, message, at, attempts in rows]


class DeadLetterQueue:
    """List dead letters newest first; put one or all back in the push queue."""

    def __init__(self, store: Store, client: SyncClient) -> None:
        self._store = store
        self._client = client

    async def list_dead_letters(self, *, limit: int = 100,
                                before_seq: int | None = None) -> list[DeadLetter]:
        return await self._store.read(lambda conn: _listed(conn, limit, before_seq))

    async def retry_dead_letter(self, event_id: str, *, actor: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT seq FROM sync_dead_letters"
                               " WHERE event_id = ? AND retry_requested = 0",
                               (event_id,)).fetchone()
            if row is None:
                return False
            outbox.request_retry(conn, [row[0]])
            record_audit(conn, actor, "sync.dead_letter_retried", f"event:{event_id}")
            return True

        done = await self._store.write(write)
        if done:
            self._client.nudge()
        return done

    async def retry_all_dead_letters(self, *, actor: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            waiting = [seq for (seq,) in conn.execute(
                "SELECT seq FROM sync_dead_letters WHERE retry_requested = 0")]
            count = outbox.request_retry(conn, waiting)
            if count:
                record_audit(conn, actor, "sync.dead_letters_retried", None, {"count": count})
            return count

        count = await self._store.write(write)
        if count:
            self._client.nudge()
        return count
