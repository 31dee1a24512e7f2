"""The audit log: rows are written with the action they record, or not at all."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import pytest

from edge.audit import recent_audit, record_audit
from edge.errors import StoreError
from edge.store import Store


async def test_audit_rows_commit_with_their_action_and_page_newest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db", checkpoint_interval_s=0)
    await store.open()
    try:
        for i in range(5):
            await store.write(functools.partial(
                record_audit, actor="admin", action="user.created", target=f"user:u{i}",
                detail={"role": "cashier"}))
        newest = await recent_audit(store, limit=2)
        assert [e.target for e in newest] == ["user:u4", "user:u3"]
        older = await recent_audit(store, limit=10, before_id=newest[-1].id)
        assert [e.target for e in older] == ["user:u2", "user:u1", "user:u0"]
        assert older[0].detail == {"role": "cashier"} and older[0].actor == "admin"

        def fails_after_audit(conn: sqlite3.Connection) -> None:
            record_audit(conn, "admin", "user.deleted", "user:u0")
            raise sqlite3.IntegrityError("the action itself failed")

        with pytest.raises(StoreError):
            await store.write(fails_after_audit)
        assert [e.action for e in await recent_audit(store, target="user:u0")] == [
            "user.created"]
    finally:
        await store.close()
