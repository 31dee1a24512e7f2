"""Server-side console sessions: random tokens, stored hashed, with idle and absolute expiry.

The table is the truth (sessions survive a restart; `storeedge user disable` in another process
ends them); a small cache answers most requests and re-reads the row every ``recheck_s``, so
a request costs no database round trip and a change made elsewhere applies within seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .errors import SafeModeError
from .store import Store
from .users import Role, User

_LOGGER = logging.getLogger(__name__)
MAX_CACHED = 1000


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_s: float = 1800.0
    max_s: float = 43200.0
    recheck_s: float = 5.0


@dataclass(slots=True)
class Session:
    token_hash: str
    user: User
    csrf_token: str
    created_at: float
    last_seen_at: float
    checked_at: float
    stored_seen_at: float
    persisted: bool = True


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


_SELECT = (
    "SELECT s.csrf_token, s.created_at, s.last_seen_at, u.id, u.name, u.role, u.disabled,"
    " u.pin_hash IS NOT NULL, u.created_at, u.last_login_at"
    " FROM console_sessions s JOIN console_users u ON u.id = s.user_id WHERE s.token_hash = ?"
)


class Sessions:
    """Creates, finds, refreshes and ends console sessions."""

    def __init__(self, store: Store, policy: SessionPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.policy = policy
        self._clock = clock
        self._cache: OrderedDict[str, Session] = OrderedDict()

    async def create(self, user: User, address: str) -> tuple[str, Session]:
        """Start a session for ``user``; return the cookie token and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(token_hash(token), user, secrets.token_urlsafe(32), now, now, now, now)
        idle_cut, max_cut = now - self.policy.idle_s, now - self.policy.max_s

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?",
                         (idle_cut, max_cut))
            conn.execute(
                "INSERT INTO console_sessions (token_hash, user_id, csrf_token, created_at,"
                " last_seen_at, address) VALUES (?, ?, ?, ?, ?, ?)",
                (session.token_hash, user.id, session.csrf_token, now, now, address[:64]))

        try:
            await self._store.write(write)
        except SafeModeError:
            # A damaged database is when IT needs the console most: keep it in memory.
            session.persisted = False
        self._remember(session)
        return token, session

    async def lookup(self, token: str) -> Session | None:
        """Return the live session for ``token``, refreshing its idle timer; else None."""
        if not token or len(token) > 128:
            return None
        key = token_hash(token)
        now = self._clock()
        session = self._cache.get(key)
        if session is None or (session.persisted
                               and now - session.checked_at >= self.policy.recheck_s):
            session = await self._reload(key, session, now)
            if session is None:
                return None
        if self._expired(session, now):
            await self.end_hash(key)
            return None
        session.last_seen_at = now
        if session.persisted and now - session.stored_seen_at >= self.policy.recheck_s:
            session.stored_seen_at = now
            await self._store.write(lambda c: c.execute(
                "UPDATE console_sessions SET last_seen_at = ? WHERE token_hash = ?", (now, key)))
        return session

    def _expired(self, session: Session, now: float) -> bool:
        return (now - session.last_seen_at > self.policy.idle_s
                or now - session.created_at > self.policy.max_s)

    async def _reload(self, key: str, cached: Session | None, now: float) -> Session | None:
        row = await self._store.fetchone(_SELECT, (key,))
        if row is None or row[6]:
            self._cache.pop(key, None)
            return None
        user = User(int(row[3]), str(row[4]), Role(row[5]), bool(row[6]), bool(row[7]),
                    str(row[8]), row[9])
        seen = max(float(row[2]), cached.last_seen_at if cached else 0.0)
        session = Session(key, user, str(row[0]), float(row[1]), seen, now, float(row[2]))
        self._remember(session)
        return session

    def _remember(self, session: Session) -> None:
        self._cache[session.token_hash] = session
        self._cache.move_to_end(session.token_hash)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)

    async def end(self, token: str) -> None:
        await self.end_hash(token_hash(token))

    async def end_hash(self, key: str) -> None:
        session = self._cache.pop(key, None)
        if session is None or session.persisted:
            with contextlib.suppress(SafeModeError):
                await self._store.write(lambda c: c.execute(
                    "DELETE FROM console_sessions WHERE token_hash = ?", (key,)))

    def forget_user(self, user_id: int) -> None:
        """Drop cached sessions of a user whose rights changed (the rows are gone already)."""
        for key in [k for k, s in self._cache.items() if s.user.id == user_id]:
            del self._cache[key]

    def cached_user_ids(self) -> set[int]:
        return {s.user.id for s in self._cache.values()}
