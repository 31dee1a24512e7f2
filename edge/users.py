"""Console users: roles, argon2id password and PIN hashes, sign-in with rate limiting.

Every change is written with its audit row in one transaction. Hashing runs in a thread (it
takes ~0.1 s and 64 MiB by design) and at most two at a time, so a burst of sign-ins never
stalls the event loop or exhausts memory.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import argon2

from .audit import record_audit
from .cart import utc_now
from .errors import EdgeError
from .login_limits import LoginLimiter, LoginLocked, LoginPolicy
from .store import Store

_LOGGER = logging.getLogger(__name__)
MAX_CONCURRENT_HASHES = 2


class Role(enum.StrEnum):
    CASHIER = "cashier"
    SUPERVISOR = "supervisor"
    IT_ADMIN = "it_admin"


ROLE_RANK = {Role.CASHIER: 1, Role.SUPERVISOR: 2, Role.IT_ADMIN: 3}


def role_allows(have: Role, need: Role) -> bool:
    """Return whether a user with role ``have`` may do what needs ``need``."""
    return ROLE_RANK[have] >= ROLE_RANK[need]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    disabled: bool
    has_pin: bool
    created_at: str
    last_login_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": str(self.role),
                "disabled": self.disabled, "has_pin": self.has_pin,
                "created_at": self.created_at, "last_login_at": self.last_login_at}


@dataclass(frozen=True, slots=True)
class HashParams:
    """argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class UserError(EdgeError):
    """A user change that cannot be made; the message is for the person who asked."""


class UserInputError(UserError):
    """A name, password, PIN or role that is not acceptable."""


class UserNotFound(UserError):
    """No such user."""


class UserConflict(UserError):
    """The change contradicts the state: a taken name, the last admin, a set-up appliance."""


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 32 or not all(c.isalnum() or c in "._-" for c in name):
        raise UserInputError("a user name is 1-32 letters, digits, '.', '_' or '-'")
    return name


def check_password(password: str, name: str = "") -> str:
    if not 8 <= len(password) <= 128:
        raise UserInputError("a password is 8 to 128 characters long")
    if not password.strip() or password.casefold() == name.casefold():
        raise UserInputError("the password must not be blank or the user name")
    return password


def check_pin(pin: str) -> str:
    if not (4 <= len(pin) <= 8 and pin.isascii() and pin.isdigit()):
        raise UserInputError("a PIN is 4 to 8 digits")
    return pin


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserInputError(f"role must be one of {', '.join(r.value for r in Role)}") from None


# One column list for every read: the User fields, then the two hashes (for this module only).
_SELECT = ("SELECT id, name, role, disabled, pin_hash IS NOT NULL AS has_pin, created_at,"
           " last_login_at, password_hash, pin_hash FROM console_users")
_BY_NAME = _SELECT + " WHERE name = ?"
_BY_ID = _SELECT + " WHERE id = ?"
_ALL = _SELECT + " ORDER BY name"
_WITH_PIN = (_SELECT + " WHERE pin_hash IS NOT NULL AND disabled = 0 AND role IN"
             " ('supervisor', 'it_admin') AND id IS NOT ? ORDER BY last_login_at DESC")


def _user(row: sqlite3.Row | tuple[Any, ...]) -> User:
    return User(int(row[0]), str(row[1]), Role(row[2]), bool(row[3]), bool(row[4]),
                str(row[5]), row[6])


def _user_key(name: str, password_hash: str | None) -> tuple[str, str]:
    # A new password starts a fresh count: `storeedge user passwd` in another process unlocks
    # an account without touching the daemon's memory.
    fingerprint = hashlib.sha256((password_hash or "").encode()).hexdigest()[:12]
    return ("account", f"{name.casefold()}:{fingerprint}")


class Users:
    """The console's users, their credentials and the sign-in limits."""

    def __init__(
        self,
        store: Store,
        *,
        hash_params: HashParams | None = None,
        policy: LoginPolicy | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        params = hash_params or HashParams()
        self._store = store
        self._hasher = argon2.PasswordHasher(time_cost=params.time_cost,
                                             memory_cost=params.memory_kib,
                                             parallelism=params.parallelism)
        self.limiter = LoginLimiter(policy or LoginPolicy(), clock or time.monotonic)
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._dummy_hash: str | None = None

    # -- hashing, off the loop ------------------------------------------------------------

    async def _hash(self, secret: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self._hasher.hash, secret)

    async def _verify(self, hashed: str, secret: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(self._verify_sync, hashed, secret)

    def _verify_sync(self, hashed: str, secret: str) -> bool:
        try:
            return self._hasher.verify(hashed, secret)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            _LOGGER.error("A stored password hash is not an argon2 hash; reset that password")
            return False

    # -- reads --------------------------------------------------------------------------

    async def count(self) -> int:
        row = await self._store.fetchone("SELECT count(*) FROM console_users")
        return int(row[0]) if row else 0

    async def list_all(self) -> list[User]:
        rows = await self._store.fetchall(_ALL)
        return [_user(r) for r in rows]

    async def get(self, name: str) -> User | None:
        row = await self._store.fetchone(_BY_NAME, (name,))
        return _user(row) if row else None

    async def by_id(self, user_id: int) -> User | None:
        row = await self._store.fetchone(_BY_ID, (user_id,))
        return _user(row) if row else None

    # -- creating -----------------------------------------------------------------------

    async def create(self, name: str, role: str, password: str, *, actor: str,
                     pin: str | None = None, first_admin: bool = False) -> User:
        """Create a user; with ``first_admin`` only while there is no user at all."""
        check_name(name)
        role_ = check_role(role)
        check_password(password, name)
        if pin is not None:
            await self._check_pin_free(check_pin(pin), None)
        password_hash = await self._hash(password)
        pin_hash = await self._hash(pin) if pin is not None else None

        def write(conn: sqlite3.Connection) -> User:
            if first_admin and conn.execute("SELECT 1 FROM console_users").fetchone():
                raise UserConflict("the console is already set up; sign in instead")
            if conn.execute("SELECT 1 FROM console_users WHERE name = ?", (name,)).fetchone():
                raise UserConflict(f"a user named {name!r} exists")
            now = utc_now()
            cur = conn.execute(
                "INSERT INTO console_users (name, role, password_hash, pin_hash, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, str(role_), password_hash, pin_hash, now, now))
            record_audit(conn, actor, "console.setup" if first_admin else "user.created",
                         f"user:{name}", {"role": str(role_), "pin": pin is not None})
            return _user(conn.execute(_BY_ID, (cur.lastrowid,)).fetchone())

        user = await self._store.write(write)
        _LOGGER.info("User %s created with role %s by %s", name, role_, actor)
        return user

    # -- signing in ---------------------------------------------------------------------

    async def authenticate(self, name: str, password: str, *, address: str) -> User | None:
        """Return the user when the password is right; raise ``LoginLocked`` when locked."""
        row = await self._store.fetchone(_BY_NAME, (name,))
        keys = (("address", address), _user_key(name, row["password_hash"] if row else None))
        self.limiter.check(*keys)
        if row is None:
            await self._verify(await self._dummy(), password)  # same cost: names stay private
            ok = False
        else:
            ok = await self._verify(row["password_hash"], password)
            if ok and row["disabled"]:
                raise UserConflict("this account is disabled; ask store IT")
        if not ok:
            locked = self.limiter.failure(*keys)
            _LOGGER.warning("Failed console sign-in for %r from %s", name[:32], address)
            if locked is not None:
                _LOGGER.warning("Console sign-in locked for the %s (%r from %s) for %d s",
                                locked.scope, name[:32], address, locked.retry_after_s)
                await self._store.write(lambda c: record_audit(
                    c, "system", "auth.locked", f"user:{name[:32]}",
                    {"scope": locked.scope, "address": address,
                     "seconds": locked.retry_after_s}))
                raise locked
            return None
        assert row is not None
        self.limiter.success(keys[1])
        user = _user(row)
        if self._hasher.check_needs_rehash(row["password_hash"]):
            new_hash = await self._hash(password)
            await self._store.write(lambda c: c.execute(
                "UPDATE console_users SET password_hash = ? WHERE id = ?", (new_hash, user.id)))
        return user

    async def verify_supervisor_pin(self, pin: str, lane: str, *,
                                    address: str | None = None) -> User | None:
        """Return the supervisor (or admin) whose PIN this is; raise ``LoginLocked``."""
        keys: tuple[tuple[str, str], ...] = (("lane", lane),)
        if address:
            keys += (("address", address),)
        self.limiter.check(*keys)
        match: User | None = None
        if 4 <= len(pin) <= 8 and pin.isascii() and pin.isdigit():
            for row in await self._pin_rows():
                if await self._verify(row["pin_hash"], pin):
                    match = _user(row)
                    break
        if match is None:
            locked = self.limiter.failure(*keys)
            _LOGGER.warning("Wrong supervisor PIN at lane %s", lane)
            if locked is not None:
                _LOGGER.warning("Supervisor PINs locked at lane %s for %d s", lane,
                                locked.retry_after_s)
                await self._store.write(lambda c: record_audit(
                    c, "system", "auth.locked", f"lane:{lane}",
                    {"scope": locked.scope, "seconds": locked.retry_after_s}))
                raise locked
            return None
        self.limiter.success(("lane", lane))
        user = match
        await self._store.write(lambda c: record_audit(
            c, user.name, "auth.supervisor_pin", f"lane:{lane}", {}))
        return user

    async def _pin_rows(self, exclude_id: int | None = None) -> list[sqlite3.Row]:
        return await self._store.fetchall(_WITH_PIN, (exclude_id,))

    async def _check_pin_free(self, pin: str, exclude_id: int | None) -> None:
        # A PIN alone names its supervisor at the lane, so two people cannot share one.
        for row in await self._pin_rows(exclude_id):
            if await self._verify(row["pin_hash"], pin):
                raise UserConflict("another supervisor uses this PIN; choose a different one")

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash("not a password of anyone")
        return self._dummy_hash

    async def mark_login(self, user: User, *, address: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE console_users SET last_login_at = ? WHERE id = ?",
                         (utc_now(), user.id))
            record_audit(conn, user.name, "auth.login", f"user:{user.name}",
                         {"address": address})
        await self._store.write(write)

    # -- changing -----------------------------------------------------------------------

    async def set_password(self, name: str, password: str, *, actor: str) -> User:
        """Set a new password; the user's sessions end and the account is unlocked."""
        check_password(password, name)
        password_hash = await self._hash(password)
        return await self._change(name, actor, "user.password_set", {},
                                  assignment="password_hash = ?", params=(password_hash,),
                                  end_sessions=True)

    async def change_own_password(self, user: User, current: str, new: str) -> None:
        row = await self._store.fetchone(
            "SELECT password_hash FROM console_users WHERE id = ?", (user.id,))
        if row is None or not await self._verify(row["password_hash"], current):
            raise UserInputError("the current password is not right")
        await self.set_password(user.name, new, actor=user.name)

    async def set_pin(self, name: str, pin: str | None, *, actor: str) -> User:
        """Set or clear (``None``) a supervisor's PIN."""
        user = await self.get(name)
        if user is None:
            raise UserNotFound(f"no user named {name!r}")
        pin_hash = None
        if pin is not None:
            if user.role is Role.CASHIER:
                raise UserInputError("only supervisors and IT admins have a PIN")
            await self._check_pin_free(check_pin(pin), user.id)
            pin_hash = await self._hash(pin)
        return await self._change(name, actor, "user.pin_set" if pin else "user.pin_cleared",
                                  {}, assignment="pin_hash = ?", params=(pin_hash,))

    async def set_role(self, name: str, role: str, *, actor: str) -> User:
        new_role = check_role(role)
        return await self._change(name, actor, "user.role_changed", {"role": str(new_role)},
                                  assignment="role = ?", params=(str(new_role),),
                                  end_sessions=True,
                                  keeps_admin=new_role is Role.IT_ADMIN)

    async def set_disabled(self, name: str, disabled: bool, *, actor: str) -> User:
        return await self._change(name, actor, "user.disabled" if disabled else "user.enabled",
                                  {}, assignment="disabled = ?", params=(int(disabled),),
                                  end_sessions=disabled,
                                  keeps_admin=not disabled)

    async def _change(self, name: str, actor: str, action: str, detail: dict[str, Any], *,
                      assignment: str, params: tuple[Any, ...], end_sessions: bool = False,
                      keeps_admin: bool = True) -> User:
        def write(conn: sqlite3.Connection) -> User:
            row = conn.execute(_BY_NAME, (name,)).fetchone()
            if row is None:
                raise UserNotFound(f"no user named {name!r}")
            before = _user(row)
            if not keeps_admin and before.role is Role.IT_ADMIN and not before.disabled:
                admins = conn.execute("SELECT count(*) FROM console_users WHERE role ="
                                      " 'it_admin' AND disabled = 0").fetchone()[0]
                if admins <= 1:
                    raise UserConflict("this is the last active IT admin; make another user "
                                       "an IT admin first")
            conn.execute(f"UPDATE console_users SET {assignment}, updated_at = ?"  # noqa: S608 - our own column names
                         " WHERE id = ?", (*params, utc_now(), before.id))
            if action == "user.role_changed" and before.role is not Role.CASHIER and \
                    params[0] == Role.CASHIER:
                conn.execute("UPDATE console_users SET pin_hash = NULL WHERE id = ?",
                             (before.id,))
            if end_sessions:
                conn.execute("DELETE FROM console_sessions WHERE user_id = ?", (before.id,))
            record_audit(conn, actor, action, f"user:{before.name}",
                         {**detail, **({"from": str(before.role)}
                                       if action == "user.role_changed" else {})})
            return _user(conn.execute(_BY_ID, (before.id,)).fetchone())

        user = await self._store.write(write)
        _LOGGER.info("User %s: %s by %s", user.name, action, actor)
        return user


__all__ = ["HashParams", "LoginLocked", "LoginPolicy", "Role", "User", "UserConflict",
           "UserError", "UserInputError", "UserNotFound", "Users", "role_allows"]
