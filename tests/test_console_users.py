"""Console users, PINs, sessions and sign-in limits, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.audit import recent_audit
from edge.login_limits import LoginLimiter, LoginLocked, LoginPolicy
from edge.sessions import SessionPolicy, Sessions, token_hash
from edge.store import Store
from edge.users import HashParams, UserConflict, UserInputError, Users

FAST = HashParams(time_cost=1, memory_kib=8192, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "c.db", checkpoint_interval_s=0)
    await store.open()
    yield store
    await store.close()


def make_users(store: Store, clock: Clock | None = None, **policy: float) -> Users:
    return Users(store, hash_params=FAST, policy=LoginPolicy(**policy),  # type: ignore[arg-type]
                 clock=clock)


def test_limiter_locks_after_failures_in_the_window_and_unlocks_later() -> None:
    clock = Clock()
    limiter = LoginLimiter(LoginPolicy(max_failures=3, window_s=60, lockout_s=300), clock)
    key = ("account", "li")
    assert limiter.failure(key) is None
    clock.now += 61  # the first failure leaves the window
    assert limiter.failure(key) is None
    assert limiter.failure(key) is None
    locked = limiter.failure(key)
    assert locked is not None and locked.retry_after_s == 300 and locked.minutes == 5
    assert "try again in 5 minutes" in str(locked)
    with pytest.raises(LoginLocked) as raised:
        limiter.check(key)
    assert raised.value.scope == "account"
    clock.now += 299
    with pytest.raises(LoginLocked) as raised:
        limiter.check(key)
    assert raised.value.retry_after_s == 1
    clock.now += 2
    limiter.check(key)  # the lockout is over


def test_limiter_counts_addresses_with_their_own_limit() -> None:
    limiter = LoginLimiter(LoginPolicy(max_failures=2, address_max_failures=4), Clock())
    for _ in range(3):
        limiter.failure(("address", "10.0.0.9"))
    limiter.check(("address", "10.0.0.9"))
    assert limiter.failure(("address", "10.0.0.9")) is not None
    assert limiter.locked(("address", "10.0.0.9"))


async def test_sign_in_right_wrong_unknown_and_disabled(store: Store) -> None:
    users = make_users(store)
    await users.create("admin", "it_admin", "correct horse", actor="test")
    assert (await users.authenticate("admin", "correct horse", address="a")) is not None
    assert await users.authenticate("ADMIN", "correct horse", address="a") is not None
    assert await users.authenticate("admin", "wrong horse!", address="a") is None
    assert await users.authenticate("nobody", "correct horse", address="a") is None
    await users.create("cash", "cashier", "till password", actor="admin")
    await users.set_disabled("cash", True, actor="admin")
    with pytest.raises(UserConflict, match="disabled"):
        await users.authenticate("cash", "till password", address="a")
    row = await store.fetchone("SELECT password_hash FROM console_users WHERE name = 'admin'")
    assert row is not None and row[0].startswith("$argon2id$") and "horse" not in row[0]


async def test_account_lockout_holds_even_for_the_right_password_until_reset(
    store: Store,
) -> None:
    clock = Clock()
    users = make_users(store, clock, max_failures=3, lockout_s=600)
    await users.create("admin", "it_admin", "correct horse", actor="test")
    await users.create("li", "supervisor", "li password", actor="admin")
    assert await users.authenticate("li", "nope nope", address="a") is None
    assert await users.authenticate("li", "nope nope", address="b") is None
    with pytest.raises(LoginLocked) as raised:
        await users.authenticate("li", "nope nope", address="c")
    assert raised.value.scope == "account" and raised.value.minutes == 10
    with pytest.raises(LoginLocked):
        await users.authenticate("li", "li password", address="d")
    # Other accounts are not affected; an admin's reset gives a fresh count.
    assert await users.authenticate("admin", "correct horse", address="c") is not None
    await users.set_password("li", "a new password", actor="admin")
    assert await users.authenticate("li", "a new password", address="d") is not None
    actions = [e.action for e in await recent_audit(store, target="user:li")]
    assert actions == ["user.password_set", "auth.locked", "user.created"]


async def test_the_last_active_admin_stays(store: Store) -> None:
    users = make_users(store)
    await users.create("admin", "it_admin", "correct horse", actor="test")
    with pytest.raises(UserConflict, match="last active IT admin"):
        await users.set_disabled("admin", True, actor="admin")
    with pytest.raises(UserConflict, match="last active IT admin"):
        await users.set_role("admin", "supervisor", actor="admin")
    await users.create("wang", "it_admin", "wang password", actor="admin")
    await users.set_role("admin", "supervisor", actor="wang")
    with pytest.raises(UserConflict):
        await users.set_disabled("wang", True, actor="wang")
    assert [(u.name, str(u.role)) for u in await users.list_all()] == [
        ("admin", "supervisor"), ("wang", "it_admin")]


async def test_bad_names_passwords_roles_and_pins_are_refused(store: Store) -> None:
    users = make_users(store)
    for name, role, password in (("", "cashier", "long enough"), ("a b", "cashier", "long enough"),
                                 ("x" * 33, "cashier", "long enough"),
                                 ("li", "owner", "long enough"), ("li", "cashier", "short"),
                                 ("li", "cashier", "li"), ("li", "cashier", "        ")):
        with pytest.raises(UserInputError):
            await users.create(name, role, password, actor="t")
    await users.create("张伟", "cashier", "收银员的密码123", actor="t")
    with pytest.raises(UserConflict):
        await users.create("张伟", "supervisor", "another password", actor="t")
    with pytest.raises(UserInputError, match="only supervisors"):
        await users.set_pin("张伟", "1234", actor="t")
    await users.create("li", "supervisor", "li password", actor="t")
    for pin in ("123", "123456789", "12a4", "１２３４"):
        with pytest.raises(UserInputError):
            await users.set_pin("li", pin, actor="t")


async def test_supervisor_pin_names_its_supervisor_and_locks_the_lane(store: Store) -> None:
    clock = Clock()
    users = make_users(store, clock, max_failures=3, lockout_s=120)
    await users.create("li", "supervisor", "li password", actor="t", pin="2468")
    await users.create("wang", "it_admin", "wang password", actor="t")
    await users.set_pin("wang", "1357", actor="t")
    await users.create("zhao", "supervisor", "zhao password", actor="t")
    with pytest.raises(UserConflict, match="another supervisor"):
        await users.set_pin("zhao", "2468", actor="t")
    assert (await users.verify_supervisor_pin("2468", "2")).name == "li"  # type: ignore[union-attr]
    assert (await users.verify_supervisor_pin("1357", "2")).name == "wang"  # type: ignore[union-attr]
    assert await users.verify_supervisor_pin("0000", "2") is None
    assert await users.verify_supervisor_pin("not a pin", "2") is None
    with pytest.raises(LoginLocked) as raised:
        await users.verify_supervisor_pin("9999", "2")
    assert raised.value.scope == "lane"
    with pytest.raises(LoginLocked):
        await users.verify_supervisor_pin("2468", "2")  # even the right one, while locked
    assert (await users.verify_supervisor_pin("2468", "3")) is not None  # other lanes work
    clock.now += 121
    assert (await users.verify_supervisor_pin("2468", "2")) is not None
    # Demoted or disabled, the PIN stops working.
    await users.set_role("li", "cashier", actor="wang")
    assert await users.verify_supervisor_pin("2468", "3") is None
    await users.set_pin("zhao", "1111", actor="wang")
    await users.set_disabled("zhao", True, actor="wang")
    assert await users.verify_supervisor_pin("1111", "3") is None
    entries = await recent_audit(store, target="lane:2")
    assert [e.action for e in entries].count("auth.supervisor_pin") == 3
    assert "auth.locked" in [e.action for e in entries]


async def test_sessions_expire_idle_and_absolute_and_end_with_the_user(store: Store) -> None:
    clock = Clock()
    users = make_users(store)
    user = await users.create("li", "supervisor", "li password", actor="t")
    sessions = Sessions(store, SessionPolicy(idle_s=60, max_s=150, recheck_s=5), clock)
    token, _ = await sessions.create(user, "10.0.0.2")
    row = await store.fetchone("SELECT token_hash FROM console_sessions")
    assert row is not None and row[0] == token_hash(token) and token not in row[0]
    for _ in range(3):
        clock.now += 50
        assert await sessions.lookup(token) is not None  # activity keeps it alive ...
    clock.now += 50
    assert await sessions.lookup(token) is None  # ... but never past max_s (200 > 150)
    token, _ = await sessions.create(user, "10.0.0.2")
    clock.now += 61
    assert await sessions.lookup(token) is None  # idle too long
    token, _ = await sessions.create(user, "10.0.0.2")
    assert await sessions.lookup("forged") is None
    await users.set_disabled("li", True, actor="t")  # deletes the rows in the same transaction
    clock.now += 5  # the cache re-reads the row after recheck_s
    assert await sessions.lookup(token) is None


async def test_a_new_store_gets_the_console_tables(tmp_path: Path) -> None:
    store = Store(tmp_path / "n.db", checkpoint_interval_s=0)
    await store.open()
    await store.close()
    conn = sqlite3.connect(tmp_path / "n.db")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"console_users", "console_sessions"} <= names
