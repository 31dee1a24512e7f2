"""Attendant badges: a scanned ``BADGE:<id>`` names a console user who may clear a lane's
intervention.

Only the SHA-256 of a badge id is stored. Badge ids made here are 120 random bits, so they
cannot be guessed; badges a store already has (card serials) may be assigned too, from 8
characters. Unknown badges count as failures per lane, like wrong PINs but on their own key:
a stream of made-up badges locks badge scans at that lane, never the supervisor PIN.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
from typing import Any

from .audit import record_audit
from .cart import utc_now
from .login_limits import LoginLocked
from .store import Store
from .users import User, UserConflict, UserInputError, UserNotFound, Users

_LOGGER = logging.getLogger(__name__)
BADGE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def badge_hash(badge_id: str) -> str:
    return hashlib.sha256(f"storeedge-badge:{badge_id}".encode()).hexdigest()


def check_badge_id(badge_id: str) -> str:
    if not BADGE_ID.fullmatch(badge_id):
        raise UserInputError("a badge id is 8-64 letters, digits, '.', '_' or '-'")
    return badge_id


class Badges:
    """Who carries which badge; every change is audited."""

    def __init__(self, store: Store, users: Users) -> None:
        self._store = store
        self._users = users

    async def assign(self, name: str, badge_id: str | None = None, *, actor: str) -> str:
        """Give user ``name`` a badge; return its id (made up when none is given)."""
        badge = check_badge_id(badge_id) if badge_id else secrets.token_urlsafe(15)
        digest = badge_hash(badge)

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT id, disabled FROM console_users WHERE name = ?",
                               (name,)).fetchone()
            if row is None:
                raise UserNotFound(f"no user named {name!r}")
            if conn.execute("SELECT 1 FROM badges WHERE badge_hash = ?", (digest,)).fetchone():
                raise UserConflict("this badge is already assigned (revoked badges cannot be "
                                   "reused)")
            conn.execute("INSERT INTO badges (badge_hash, user_id, hint, created_at, created_by)"
                         " VALUES (?, ?, ?, ?, ?)",
                         (digest, row[0], badge[-4:], utc_now(), actor))
            record_audit(conn, actor, "badge.assigned", f"user:{name}", {"hint": badge[-4:]})

        await self._store.write(write)
        _LOGGER.info("Badge ...%s assigned to %s by %s", badge[-4:], name, actor)
        return badge

    async def revoke(self, name: str, *, actor: str) -> int:
        """Revoke every badge of user ``name``; return how many there were."""
        def write(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT id FROM console_users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UserNotFound(f"no user named {name!r}")
            count = conn.execute("UPDATE badges SET revoked_at = ? WHERE user_id = ? AND"
                                 " revoked_at IS NULL", (utc_now(), row[0])).rowcount
            record_audit(conn, actor, "badge.revoked", f"user:{name}", {"badges": count})
            return int(count)

        return await self._store.write(write)

    async def list_all(self) -> list[dict[str, Any]]:
        rows = await self._store.fetchall(
            "SELECT u.name, u.role, u.disabled, b.hint, b.created_at, b.created_by,"
            " b.revoked_at FROM badges b JOIN console_users u ON u.id = b.user_id"
            " ORDER BY u.name, b.created_at")
        return [dict(r) for r in rows]

    async def verify(self, badge_id: str, lane: str) -> User | None:
        """Return the active user carrying this badge; raise ``LoginLocked`` when locked."""
        key = ("badge", lane)
        self._users.limiter.check(key)
        row = None
        if BADGE_ID.fullmatch(badge_id):
            row = await self._store.fetchone(
                "SELECT user_id FROM badges WHERE badge_hash = ? AND revoked_at IS NULL",
                (badge_hash(badge_id),))
        if row is None:
            locked = self._users.limiter.failure(key)
            _LOGGER.warning("Unknown badge scanned at lane %s", lane)
            if locked is not None:
                _LOGGER.warning("Badge scans locked at lane %s for %d s", lane,
                                locked.retry_after_s)
                await self._store.write(lambda c: record_audit(
                    c, "system", "auth.locked", f"lane:{lane}",
                    {"scope": "badge", "seconds": locked.retry_after_s}))
                raise locked
            return None
        self._users.limiter.success(key)
        return await self._users.by_id(int(row["user_id"]))


__all__ = ["BADGE_ID", "Badges", "LoginLocked", "badge_hash", "check_badge_id"]
