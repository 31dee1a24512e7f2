"""The sync state shown on every screen: online, degraded or offline, with the reason.

Pure: ``assess`` reads a snapshot of facts and returns the state; the client calls it whenever
something changes and publishes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

ONLINE, DEGRADED, OFFLINE = "online", "degraded", "offline"


@dataclass(frozen=True, slots=True)
class Facts:
    now: float
    enabled: bool
    not_paired: str | None              # why credentials are unusable, or None
    breaker: str                        # closed / open / half-open
    last_success: float | None
    last_failure: float | None
    last_error: str | None
    stream_error: str | None            # a pull that keeps failing (e.g. a page refused)
    dead_letters: int
    skew_s: float | None
    oldest_pending_age_s: float | None
    pending_count: int
    offline_after_s: float
    max_skew_s: float
    backlog_warn_s: float


@dataclass(frozen=True, slots=True)
class SyncState:
    state: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "reason": self.reason}


def assess(f: Facts) -> SyncState:  # noqa: PLR0911 - one return per rule, in priority order
    """Return the state and the one reason a person should read first."""
    if not f.enabled:
        return SyncState(OFFLINE, "sync is switched off in the config ([sync] enabled)")
    if f.not_paired:
        return SyncState(OFFLINE, f.not_paired)
    if f.last_success is None:
        if f.last_failure is None:
            return SyncState(OFFLINE, "connecting to the CRM")
        return SyncState(OFFLINE, f"CRM unreachable: {f.last_error}")
    if f.breaker == "open":
        return SyncState(OFFLINE, f"CRM unreachable, pausing before the next try: "
                         f"{f.last_error}")
    silent = f.now - f.last_success
    if silent > f.offline_after_s:
        return SyncState(OFFLINE, f"no answer from the CRM for {silent:.0f} s: {f.last_error}")
    if f.last_failure is not None and f.last_failure > f.last_success:
        return SyncState(DEGRADED, f"retrying: {f.last_error}")
    if f.stream_error:
        return SyncState(DEGRADED, f.stream_error)
    if f.dead_letters:
        return SyncState(DEGRADED, f"{f.dead_letters} event(s) refused by the CRM; see dead "
                         "letters, fix the cause and retry")
    if f.skew_s is not None and abs(f.skew_s) > f.max_skew_s:
        return SyncState(DEGRADED, f"this appliance's clock is {f.skew_s:+.0f} s off the CRM's")
    if f.oldest_pending_age_s is not None and f.oldest_pending_age_s > f.backlog_warn_s:
        return SyncState(DEGRADED, f"{f.pending_count} event(s) waiting, the oldest for "
                         f"{f.oldest_pending_age_s:.0f} s")
    return SyncState(ONLINE, "in sync with the CRM")
