"""The local database: durable settings, transactional migrations, safe mode, clear errors."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from edge.errors import SafeModeError, StoreError, StoreUnavailable
from edge.seed import seed_demo
from edge.store import Migration, Store, apply_migrations, bundled_migrations


async def test_opens_in_wal_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    try:
        mode = await store.fetchone("PRAGMA journal_mode")
        sync = await store.fetchone("PRAGMA synchronous")
        fk = await store.fetchone("PRAGMA foreign_keys")
        assert mode is not None and mode[0] == "wal"
        assert sync is not None and sync[0] == 2  # FULL
        assert fk is not None and fk[0] == 1
        applied = await store.fetchall("SELECT name FROM schema_migrations ORDER BY version")
        assert [r["name"] for r in applied] == [m.name for m in bundled_migrations()]
    finally:
        await store.close()


def test_a_failing_migration_applies_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    good = Migration(1, "0001_good.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "0002_bad.sql",
                    "CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        apply_migrations(conn, [good, bad])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" not in tables and "b" not in tables
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 0
    # Fixed, the same pending set applies in one go, and a second run applies nothing.
    fixed = Migration(2, "0002_bad.sql", "CREATE TABLE b (y INTEGER);")
    assert apply_migrations(conn, [good, fixed]) == ["0001_good.sql", "0002_bad.sql"]
    assert apply_migrations(conn, [good, fixed]) == []
    conn.close()


async def test_a_damaged_file_enters_safe_mode_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = Store(path)
    await store.open()
    await store.write(lambda c: c.executemany(
        "INSERT INTO meta VALUES (?, ?)", [(f"k{i}", "x" * 500) for i in range(400)]))
    await store.close()
    raw = bytearray(path.read_bytes())
    raw[4096 * 2: 4096 * 2 + 200] = b"\xff" * 200  # scribble over a b-tree page
    path.write_bytes(bytes(raw))

    damaged = Store(path)
    await damaged.open()
    try:
        assert damaged.safe_mode
        assert damaged.safe_mode_reason is not None
        with pytest.raises(SafeModeError, match="safe mode"):
            await damaged.write(lambda c: c.execute("INSERT INTO meta VALUES ('a', 'b')"))
    finally:
        await damaged.close()


async def test_a_file_that_is_not_a_database_enters_safe_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is a spreadsheet, not a database" * 200)
    store = Store(path)
    await store.open()
    try:
        assert store.safe_mode_reason is not None
        assert "not a database" in store.safe_mode_reason
    finally:
        await store.close()


async def test_a_lock_held_by_another_program_is_a_clear_retryable_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = Store(path, busy_timeout_ms=50)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.write(lambda c: c.execute("INSERT INTO meta VALUES ('a', 'b')"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    await store.write(lambda c: c.execute("INSERT INTO meta VALUES ('a', 'b')"))
    assert await store.fetchone("SELECT value FROM meta WHERE key = 'a'") is not None
    await store.close()


async def test_a_full_disk_is_a_clear_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    # SQLite's own size cap raises exactly the error a full disk raises (SQLITE_FULL).
    pages = await store.fetchone("PRAGMA page_count")
    assert pages is not None
    await store.read(lambda c: c.execute(f"PRAGMA max_page_count = {pages[0] + 2}"))

    def big_write(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta VALUES ('first', 'small')")
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [(f"k{i}", "x" * 1000) for i in range(200)])

    with pytest.raises(StoreUnavailable, match="disk is full"):
        await store.write(big_write)
    assert await store.fetchone("SELECT 1 FROM meta WHERE key = 'first'") is None
    await store.close()


async def test_backup_copies_a_consistent_database(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    await store.write(lambda c: c.execute("INSERT INTO meta VALUES ('k', 'v')"))
    await store.backup_to(tmp_path / "copy.sqlite")
    await store.close()
    copy = sqlite3.connect(tmp_path / "copy.sqlite")
    assert copy.execute("SELECT value FROM meta WHERE key = 'k'").fetchone() == ("v",)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()


async def test_using_a_closed_store_is_an_error_not_a_hang(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    with pytest.raises(StoreError, match="not open"):
        await store.fetchall("SELECT 1")


async def test_a_broken_migration_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    broken = [*bundled_migrations(), Migration(9999, "9999_broken.sql", "CREATE TABLE (;")]
    with pytest.raises(StoreError, match="migration failed, nothing applied"):
        await store.open(broken)
    # The store closed itself; the file holds no half-applied schema.
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sales'").fetchone()
    assert tables == (0,)
    conn.close()


async def test_the_log_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = Store(path, checkpoint_interval_s=0.05)
    await store.open()
    try:
        start = path.stat().st_size
        await store.write(lambda c: c.executemany(
            "INSERT INTO meta VALUES (?, ?)", [(f"k{i}", "x" * 1000) for i in range(500)]))
        # The writer never checkpoints itself: the rows reach the main file only through the
        # background task.
        for _ in range(200):
            if path.stat().st_size > start + 400_000:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > start + 400_000
        assert store.checkpoint_failures == 0
    finally:
        await store.close()


async def test_the_database_and_its_log_are_readable_by_the_daemon_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a store IT shell's usual umask, not systemd's 0077
    try:
        store = Store(tmp_path / "private.db", checkpoint_interval_s=0)
        await store.open()
        try:
            await store.write(seed_demo)
            for name in ("private.db", "private.db-wal", "private.db-shm"):
                assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        finally:
            await store.close()
    finally:
        os.umask(old)
