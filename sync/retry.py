"""The retry policy of the sync client, in one place: what is retried, how long to wait, when
to stop trying for a while (the circuit breaker).

Pure values and small state machines; the caller passes the clock in.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass, field

from .errors import AuthFailed, RequestRefused, SyncError, TransientError
from .messages import parse_error


def error_for_status(status: int, body: bytes, retry_after: str | None,
                     retry_after_max_s: float) -> SyncError:
    """Turn a non-2xx answer into the exception that says what to do about it."""
    parsed = parse_error(body)
    code, message = parsed if parsed else ("http_" + str(status), f"HTTP {status}")
    if status == 429 or status >= 500:
        wait = parse_retry_after(retry_after, retry_after_max_s)
        return TransientError(f"CRM answered {status}: {message}", retry_after_s=wait)
    if status == 409 and code == "replayed":
        # We never send a request twice; a middlebox did. Sign afresh and send again.
        return TransientError("a proxy delivered our request twice; sending it again")
    if status in (401, 403):
        return AuthFailed(f"CRM refused our credentials ({status} {code}): {message}")
    return RequestRefused(status, code, message)


def parse_retry_after(value: str | None, cap_s: float) -> float | None:
    """Return Retry-After in seconds (delta or HTTP date), capped; None when absent or bad."""
    if not value or len(value) > 64:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap_s)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds()), cap_s)


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter; ``reset`` after a success."""

    base_s: float
    max_s: float
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        ceiling = min(self.max_s, self.base_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        # Full jitter spreads a thousand appliances that lost the same uplink at once.
        delay = self.rng.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after_s) if retry_after_s is not None else delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass(slots=True)
class CircuitBreaker:
    """Closed -> open after N failures in a row -> half-open after a pause -> one probe.

    While open, no task calls the CRM; the pause is the breaker's, not each task's.
    """

    failures_to_open: int
    reset_s: float
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.probing else "open"

    def wait_s(self, now: float) -> float:
        """Return 0 when a request may go now, else how long to wait before asking again."""
        if self.opened_at is None:
            return 0.0
        remaining = self.opened_at + self.reset_s - now
        if remaining > 0:
            return remaining
        if self.probing:
            return min(1.0, self.reset_s)   # another task is probing; ask again soon
        self.probing = True
        return 0.0

    def success(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failures_to_open:
            self.opened_at, self.probing = now, False
