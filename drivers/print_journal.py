"""A durable journal of print jobs and drawer kicks, so a retried id never happens twice.

Every job carries an id fixed before it is sent (the sale's receipt id, say). The printer
driver writes ``sending`` to this journal, durably, right before the first byte of the job goes
to the printer, and ``printed`` once the printer took all of it. After a crash between the two,
the job is **in doubt**: it may or may not be on paper. A retry of an in-doubt job is not sent
again on its own; a person looks at the printer and says ``resolve(id, printed=...)``.

One small SQLite file per printer (WAL, synchronous=FULL); calls are blocking, so the driver
runs them in a thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

SENDING, PRINTED, FAILED = "sending", "printed", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,            -- 'receipt' or 'drawer'
    state      TEXT NOT NULL CHECK (state IN ('sending', 'printed', 'failed')),
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    bytes      INTEGER NOT NULL DEFAULT 0,
    detail     TEXT NOT NULL DEFAULT ''
)
"""


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    kind: str
    state: str
    started_at: float
    updated_at: float
    bytes: int
    detail: str


class PrintJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=5, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            yield conn

    def get(self, job_id: str) -> JobRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT job_id, kind, state, started_at, updated_at, bytes, detail"
                               " FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord(*row)

    def sending(self, job_id: str, kind: str, size: int) -> None:
        """Record, durably, that the job's bytes are about to go out."""
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, kind, state, started_at, updated_at, bytes)"
                " VALUES (?, ?, 'sending', ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                " state = 'sending', updated_at = excluded.updated_at, bytes = excluded.bytes",
                (job_id, kind, now, now, size))

    def finish(self, job_id: str, state: str, detail: str = "") -> None:
        with self._connect() as conn:
            conn.execute("UPDATE jobs SET state = ?, updated_at = ?, detail = ? WHERE job_id = ?",
                         (state, time.time(), detail, job_id))

    def failed_before_sending(self, job_id: str, kind: str, detail: str) -> None:
        """Note a job that never reached the printer (it may be retried as it is)."""
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, kind, state, started_at, updated_at, detail)"
                " VALUES (?, ?, 'failed', ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
                " state = 'failed', updated_at = excluded.updated_at, detail = excluded.detail"
                " WHERE jobs.state = 'failed'",
                (job_id, kind, now, now, detail))

    def in_doubt(self) -> list[JobRecord]:
        with self._connect() as conn:
            rows = conn.execute("SELECT job_id, kind, state, started_at, updated_at, bytes, "
                                "detail FROM jobs WHERE state = 'sending' ORDER BY started_at"
                                ).fetchall()
        return [JobRecord(*row) for row in rows]
