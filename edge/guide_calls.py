""""Call a guide" from an aisle screen: one open call per zone, answered from ``/guides``.

A press while the zone's call is still open is the same call (a shopper pressing five times
is one call); after an answer, a new call waits ``cooldown_s``. Calls are rows in the store,
so a restart keeps the ones nobody answered. They hold a zone and times only.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .audit import record_audit
from .cart import new_id, utc_now
from .store import Store

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GuideCall:
    id: str
    zone: str
    called_at: str
    acked_at: str | None
    acked_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _call(row: sqlite3.Row | tuple[Any, ...]) -> GuideCall:
    return GuideCall(row[0], row[1], row[2], row[3], row[4])


_COLUMNS = "SELECT id, zone, called_at, acked_at, acked_by FROM guide_calls"


class GuideCalls:
    """The calls of every zone; ``on_change`` callbacks run after every change."""

    def __init__(self, store: Store, *, cooldown_s: float, shown: int) -> None:
        self._store = store
        self._cooldown = dt.timedelta(seconds=cooldown_s)
        self._shown = shown
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(zone)`` after a call is made or answered; return how to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self, zone: str) -> None:
        for listener in self._listeners:
            listener(zone)

    async def call(self, zone: str) -> tuple[GuideCall, bool]:
        """Return the zone's open call, or a new one; True when it was made now."""
        now = dt.datetime.now(dt.UTC)

        def write(conn: sqlite3.Connection) -> tuple[GuideCall, bool]:
            row = conn.execute(_COLUMNS + " WHERE zone = ? AND acked_at IS NULL"
                               " ORDER BY called_at DESC LIMIT 1", (zone,)).fetchone()
            if row is not None:
                return _call(row), False
            last = conn.execute(_COLUMNS + " WHERE zone = ? ORDER BY acked_at DESC LIMIT 1",
                                (zone,)).fetchone()
            if last is not None and last[3] and \
                    now - dt.datetime.fromisoformat(last[3]) < self._cooldown:
                return _call(last), False   # a guide has just been; shows as on the way
            call = GuideCall(new_id()[:16], zone, utc_now(), None, None)
            conn.execute("INSERT INTO guide_calls (id, zone, called_at) VALUES (?, ?, ?)",
                         (call.id, zone, call.called_at))
            return call, True

        call, made = await self._store.write(write)
        if made:
            _LOGGER.info("Guide called to zone %s", zone)
            self._changed(zone)
        return call, made

    async def acknowledge(self, call_id: str, *, by: str) -> GuideCall | None:
        """Mark a call answered (audited); None when there is no such call."""
        def write(conn: sqlite3.Connection) -> GuideCall | None:
            row = conn.execute(_COLUMNS + " WHERE id = ?", (call_id,)).fetchone()
            if row is None:
                return None
            if row[3] is None:
                conn.execute("UPDATE guide_calls SET acked_at = ?, acked_by = ? WHERE id = ?",
                             (utc_now(), by, call_id))
                record_audit(conn, by, "guide.call_answered", f"zone:{row[1]}",
                             {"call_id": call_id, "called_at": row[2]})
            return _call(conn.execute(_COLUMNS + " WHERE id = ?", (call_id,)).fetchone())

        call = await self._store.write(write)
        if call is not None:
            self._changed(call.zone)
        return call

    async def open_call(self, zone: str) -> GuideCall | None:
        """Return the zone's unanswered call, or one answered within the cooldown."""
        row = await self._store.fetchone(
            _COLUMNS + " WHERE zone = ? ORDER BY coalesce(acked_at, '9999') DESC,"
            " called_at DESC LIMIT 1", (zone,))
        if row is None:
            return None
        call = _call(row)
        if call.acked_at and dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(
                call.acked_at) >= self._cooldown:
            return None
        return call

    async def recent(self) -> list[GuideCall]:
        """Return unanswered calls (oldest first), then the latest answered ones."""
        rows = await self._store.fetchall(
            _COLUMNS + " ORDER BY acked_at IS NOT NULL, CASE WHEN acked_at IS NULL THEN"
            " called_at END, called_at DESC LIMIT ?", (self._shown,))
        return [_call(r) for r in rows]
