"""The local SQLite database: one writer, durable commits, numbered migrations.

Every write is a function run inside ``BEGIN IMMEDIATE ... COMMIT`` on aiosqlite's connection
thread. Running the whole transaction as one function costs one thread hop instead of one per
statement, and keeps the event loop out of the database entirely. A damaged file puts the store
in safe mode: it still answers reads where it can and says why, and refuses every write.

WAL checkpoints run from a second connection in the background (PASSIVE: they never block the
writer), so no sale waits while SQLite copies the log into the main file and fsyncs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from .errors import SafeModeError, StoreError, StoreUnavailable

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """Return the migrations shipped in ``edge/migrations``, in order."""
    found: list[Migration] = []
    for entry in resources.files("edge").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a number: {[m.name for m in found]}")
    return found


def classify_sqlite_error(err: sqlite3.Error) -> StoreError:
    """Map a sqlite3 error to the store's exceptions, with words a person can act on."""
    text = str(err).lower()
    code = getattr(err, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_FULL,) or "disk is full" in text or "disk i/o" in text:
        return StoreUnavailable("the disk is full: free space on the appliance and try again")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StoreUnavailable("the database is locked by another program; try again")
    if "readonly" in text or "read-only" in text:
        return StoreUnavailable("the database is read-only: check the state directory")
    return StoreError(f"database error: {err}")


class Store:
    """The daemon's single connection to its SQLite file."""

    def __init__(
        self, path: Path, *, busy_timeout_ms: int = 2000, checkpoint_interval_s: float = 1.0
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.checkpoint_interval_s = checkpoint_interval_s
        self._conn: aiosqlite.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self.safe_mode_reason: str | None = None
        self.checkpoint_failures = 0

    @property
    def safe_mode(self) -> bool:
        return self.safe_mode_reason is not None

    async def open(self, migrations: Iterable[Migration] | None = None) -> None:
        """Open the file, check it, and migrate it; a damaged file enters safe mode."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await self._run(self._prepare, list(migrations or bundled_migrations()))
        except sqlite3.DatabaseError as err:
            self.safe_mode_reason = f"database file is damaged or not a database: {err}"
        except BaseException:
            await self.close()
            raise
        if not self.safe_mode_reason and self.checkpoint_interval_s > 0:
            self._checkpointer = asyncio.create_task(
                self._checkpoint_loop(), name=f"checkpoint:{self.path.name}")
        if self.safe_mode_reason:
            _LOGGER.error(
                "SAFE MODE: %s (%s). Sales are refused. Restore a backup: see README, "
                "'Backup and restore'.",
                self.safe_mode_reason,
                self.path,
            )

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    def _prepare(self, conn: sqlite3.Connection, migrations: list[Migration]) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            problems = "; ".join(str(r[0]) for r in rows[:5])
            self.safe_mode_reason = f"integrity check failed: {problems}"
            return
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot switch {self.path} to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.checkpoint_interval_s > 0:
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the background task does it
        try:
            apply_migrations(conn, migrations)
        except sqlite3.Error as err:
            # Nothing of the pending set was applied; the file is as the last version left it.
            raise StoreError(f"database migration failed, nothing applied: {err}") from err

    async def _checkpoint_loop(self) -> None:
        """Copy the WAL into the main file every interval, off the writer's path."""
        # One thread owns this connection. Cancelling an awaited checkpoint does not stop it,
        # and closing the connection under a running statement crashes the process; on its
        # own thread the close simply waits its turn.
        loop = asyncio.get_running_loop()
        worker = ThreadPoolExecutor(1, thread_name_prefix="wal-checkpoint")
        conn = await loop.run_in_executor(worker, functools.partial(
            sqlite3.connect, self.path, timeout=self.busy_timeout_ms / 1000,
            check_same_thread=False, isolation_level=None))
        try:
            while True:
                await asyncio.sleep(self.checkpoint_interval_s)
                try:
                    await loop.run_in_executor(worker, _checkpoint, conn)
                except sqlite3.Error as err:
                    self.checkpoint_failures += 1
                    if self.checkpoint_failures in (1, 10) or self.checkpoint_failures % 100 == 0:
                        _LOGGER.warning("WAL checkpoint failed (%d times): %s",
                                        self.checkpoint_failures, err)
        finally:
            closed = worker.submit(conn.close)
            worker.shutdown(wait=False)
            await asyncio.shield(asyncio.wrap_future(closed))

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Call ``fn(sqlite3_connection, *args)`` on the connection's own thread.

        aiosqlite runs every statement through this queue; handing it a whole function is the
        same mechanism with one hop per transaction.
        """
        conn = self._conn
        if conn is None:
            raise StoreError("the store is not open")
        result: _T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
        return result

    async def write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` in one durable transaction; all of it commits or none of it does."""
        if self.safe_mode_reason:
            raise SafeModeError(f"safe mode: {self.safe_mode_reason}")
        return await self._run(_in_transaction, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` on the connection's thread, outside any write transaction."""
        try:
            return await self._run(fn)
        except sqlite3.Error as err:
            raise classify_sqlite_error(err) from err

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        args = tuple(params)
        return await self.read(lambda c: _rows(c, sql, args))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def integrity_check(self) -> str:
        rows = await self.fetchall("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    async def backup_to(self, dest: Path) -> None:
        """Copy the live database to ``dest`` with SQLite's online backup API."""
        await self.read(lambda c: _backup(c, dest))


def create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only, if there is none.

    It holds members' names and phone numbers; SQLite gives its -wal and -shm files the same
    mode, whatever the umask of whoever started the daemon.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _checkpoint(conn: sqlite3.Connection) -> None:
    # PASSIVE copies what it can without waiting on the writer; once the log is fully copied
    # and nobody reads it, TRUNCATE resets it so the -wal file does not keep its peak size.
    busy, log_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if not busy and log_pages > 4096 and copied == log_pages:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
    cur = conn.execute(sql, params)
    cur.row_factory = sqlite3.Row
    return cur.fetchall()


def _backup(conn: sqlite3.Connection, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(dest) as target:
        conn.backup(target)
    target.close()


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], _T]) -> _T:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as err:
        raise classify_sqlite_error(err) from err
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException as err:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                _LOGGER.exception("Rollback failed")
        if isinstance(err, sqlite3.Error):
            raise classify_sqlite_error(err) from err
        raise
    return result


def apply_migrations(conn: sqlite3.Connection, migrations: Iterable[Migration]) -> list[str]:
    """Apply every migration not yet applied, all in one transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    pending = [m for m in migrations if m.version not in applied]
    if not pending:
        return []
    # executescript commits anything open before it runs, so BEGIN/COMMIT live inside the
    # script itself: every pending file, and its bookkeeping row, in one transaction.
    script = ["BEGIN IMMEDIATE;"]
    for m in pending:
        script.append(m.sql)
        # Names come from our own files and match _MIGRATION_NAME; nothing here is user input.
        script.append(
            f"INSERT INTO schema_migrations (version, name) VALUES ({m.version}, '{m.name}');"  # noqa: S608
        )
    script.append("COMMIT;")
    try:
        conn.executescript("\n".join(script))
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    names = [m.name for m in pending]
    _LOGGER.info("Applied migrations: %s", ", ".join(names))
    return names
