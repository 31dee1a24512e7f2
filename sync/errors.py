"""Sync errors: one base; what to do about each is decided in ``sync.retry``."""

from __future__ import annotations

from edge.errors import EdgeError


class SyncError(EdgeError):
    """Base of every sync failure."""


class TransientError(SyncError):
    """Worth trying again later: network down, timeout, reset, 5xx, 429, a garbled answer."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuthFailed(SyncError):
    """The CRM refused our credentials or signature (401/403): re-pair, or fix the clock."""


class RequestRefused(SyncError):
    """The CRM refused the whole request (400, 404, 413, 422 ...): it will not get better as is."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code = status, code

    @property
    def blames_body(self) -> bool:
        """Whether the CRM refused what we sent (not where or how we sent it).

        Only then may the batch be split and an event be dead-lettered: a 404 from a wrong
        URL, or a proxy's own 400, must never empty the queue into dead letters.
        """
        return self.status == 413 or (self.status == 400 and self.code == "bad_request")


class NotPaired(SyncError):
    """No usable credentials: run `storeedge pair CODE`."""
