"""The audit log: an append-only record of who did what, written inside the caller's transaction.

Recording inside the same transaction as the action means an action and its audit row exist
together or not at all; a crash never leaves an unaudited change.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .cart import utc_now
from .store import Store

_MAX_DETAIL = 4096


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


def record_audit(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one audit row inside the caller's write transaction; return its id."""
    text = json.dumps(detail or {}, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > _MAX_DETAIL:
        text = json.dumps({"truncated": text[:_MAX_DETAIL]}, ensure_ascii=False)
    cur = conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        (utc_now(), actor, action, target, text),
    )
    return int(cur.lastrowid or 0)


async def recent_audit(
    store: Store, *, limit: int = 100, before_id: int | None = None, target: str | None = None
) -> list[AuditEntry]:
    """Return audit rows newest first, optionally for one target and before an id (paging)."""
    sql = "SELECT id, at, actor, action, target, detail FROM audit_log WHERE 1 = 1"
    params: list[Any] = []
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    if target is not None:
        sql += " AND target = ?"
        params.append(target)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(max(1, min(limit, 1000)))
    rows = await store.fetchall(sql, params)
    return [AuditEntry(r["id"], r["at"], r["actor"], r["action"], r["target"],
                       json.loads(r["detail"])) for r in rows]
