"""Login rate limiting: failures counted per key in a sliding window, then a lockout.

Pure logic over a clock: the console keys sign-ins by address and by account, the lane keys
supervisor PINs by lane and address. State lives in memory, bounded in size: a restart forgets
it, which an attacker on the store LAN cannot cause.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many failures within ``window_s`` lock a key, and for how long."""

    max_failures: int = 5
    window_s: float = 900.0
    lockout_s: float = 900.0
    address_max_failures: int = 20


@dataclass(slots=True)
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginLocked(Exception):
    """Too many failures for ``scope``; try again after ``retry_after_s`` seconds."""

    def __init__(self, scope: str, retry_after_s: float) -> None:
        self.scope = scope
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        minutes = max(1, math.ceil(self.retry_after_s / 60))
        super().__init__(f"too many failed attempts for this {scope}; try again in "
                         f"{minutes} minute{'s' if minutes > 1 else ''}")

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_s / 60))


class LoginLimiter:
    """Counts failures per key (e.g. ``("user", "li")``) and locks keys that fail too often."""

    def __init__(self, policy: LoginPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()

    def _limit(self, key: tuple[str, str]) -> int:
        return self.policy.address_max_failures if key[0] == "address" else \
            self.policy.max_failures

    def check(self, *keys: tuple[str, str]) -> None:
        """Raise ``LoginLocked`` when any key is locked now."""
        now = self._clock()
        for key in keys:
            record = self._records.get(key)
            if record is not None and record.locked_until > now:
                raise LoginLocked(key[0], record.locked_until - now)

    def failure(self, *keys: tuple[str, str]) -> LoginLocked | None:
        """Count one failure on every key; return the lockout it caused, if any."""
        now = self._clock()
        locked: LoginLocked | None = None
        for key in keys:
            record = self._records.pop(key, None) or _Record()
            self._records[key] = record  # most recently used last, for eviction
            while record.failures and record.failures[0] <= now - self.policy.window_s:
                record.failures.popleft()
            record.failures.append(now)
            if len(record.failures) >= self._limit(key):
                record.failures.clear()
                record.locked_until = now + self.policy.lockout_s
                locked = locked or LoginLocked(key[0], self.policy.lockout_s)
        while len(self._records) > MAX_KEYS:
            self._records.popitem(last=False)
        return locked

    def success(self, *keys: tuple[str, str]) -> None:
        """Forget the failures of these keys (a correct password ends the count)."""
        for key in keys:
            self._records.pop(key, None)

    def unlock(self, key: tuple[str, str]) -> None:
        self._records.pop(key, None)

    def locked(self, key: tuple[str, str]) -> bool:
        record = self._records.get(key)
        return record is not None and record.locked_until > self._clock()
