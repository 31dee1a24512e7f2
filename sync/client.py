"""The edge's sync client: pushes the outbox, pulls the change streams, keeps the sync state.

``SyncClient.run`` is one supervised task (``EdgeApp`` restarts it if it dies). Inside it: a
pusher, a puller per stream, and a loop refreshing the queue figures; until the device is
paired only the figures run, and the state says "offline: not paired" while the lanes sell.
All network waits are bounded by the transport; every retry goes through ``sync.retry``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.catalog import Catalog
from edge.config import Config
from edge.store import Store

from . import outbox
from .apply import CACHED_STREAMS, apply_page, precheck, stream_cursor
from .credentials import Credentials, load_credentials
from .errors import NotPaired, RequestRefused, SyncError
from .health import OFFLINE, ONLINE, Facts, SyncState, assess
from .messages import STREAM_NAMES, ChangesPage, parse_changes_page
from .offline import Decision, OfflineLimits, decide, read_facts
from .protocol import ProtocolError, loads_strict
from .pusher import Link, Pusher
from .retry import Backoff, CircuitBreaker
from .transport import Transport

_LOGGER = logging.getLogger(__name__)
_NUMBER = re.compile(r"[-+]?[0-9][0-9.,]*")


class _CredentialsChanged(Exception):
    """The credentials file changed under a running link: reconnect with the new one."""


class SyncClient:
    """``EdgeApp.sync``: the link to the CRM, and what the screens and tenders ask of it."""

    def __init__(self, config: Config, store: Store, catalog: Catalog | None = None, *,
                 on_change: Callable[[SyncState], None] | None = None,
                 observe_push: Callable[[float], None] | None = None) -> None:
        self._config = config
        self._sync = config.sync
        self._store = store
        self._catalog = catalog
        self._on_change = on_change
        self._observe_push = observe_push
        self._nudge = asyncio.Event()
        self._breaker = CircuitBreaker(self._sync.breaker_failures,
                                       self._sync.breaker_reset_ms / 1000)
        self.limits = OfflineLimits(self._sync.offline_per_transaction_fen,
                                    self._sync.offline_total_fen, self._sync.offline_max_age_s)
        self.credentials: Credentials | None = None
        self.crm_url: str | None = None
        self._not_paired: str | None = None
        self._last_success: float | None = None
        self._last_failure: float | None = None
        self._last_error: str | None = None
        self._stream_errors: dict[str, str] = {}
        self._figures: outbox.QueueFigures | None = None
        self._figures_at = 0.0
        self._pending_sum = outbox.PendingSum()
        self._streams: dict[str, dict[str, Any]] = {}
        self._skew_s: float | None = None
        self._push_latency_s: float | None = None
        self._transport: Transport | None = None   # while the link runs
        self.state = SyncState(OFFLINE, "connecting to the CRM")

    # -- what others call ------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether the CRM answers now (online or degraded): payment codes need this."""
        return self.state.state != OFFLINE

    def nudge(self) -> None:
        """Push soon: an event was just committed."""
        self._nudge.set()

    def status(self) -> dict[str, Any]:
        """Return everything the console shows about sync, as plain JSON values."""
        f = self._figures
        oldest_age = _age_s(f.oldest_pending_at) if f and f.oldest_pending_at else None
        return {
            **self.state.as_dict(),
            "online": self.online,
            "paired": self.credentials is not None,
            "device_key": self.credentials.device_key if self.credentials else None,
            "crm_url": self.crm_url,
            "last_success_at": _iso(self._last_success),
            "last_error": self._last_error,
            "last_error_at": _iso(self._last_failure),
            "breaker": self._breaker.state,
            "clock_skew_s": self._skew_s,
            "push_latency_s": self._push_latency_s,
            "acked_through_seq": f.acked_through_seq if f else None,
            "last_seq": f.last_seq if f else None,
            "pending_count": f.pending_count if f else None,
            "pending_fen": f.pending_fen if f else None,
            "oldest_pending_at": f.oldest_pending_at if f else None,
            "oldest_pending_age_s": oldest_age,
            "dead_letters": f.dead_letters if f else None,
            "dead_letter_retries": f.dead_letter_retries if f else None,
            "conflicts": f.conflicts if f else None,
            "streams": self._streams,
            "stream_errors": dict(self._stream_errors),
        }

    async def check_offline_stored_value(self, amount_fen: int, member_id: str,
                                         now: dt.datetime | None = None) -> Decision:
        """Say whether ``amount_fen`` of ``member_id``'s stored value may be spent now."""
        facts = await self._store.read(lambda conn: read_facts(conn, member_id))
        return decide(facts, self.limits, amount_fen, now or dt.datetime.now(dt.UTC))

    def check_offline_stored_value_in(self, conn: sqlite3.Connection, amount_fen: int,
                                      member_id: str, now: dt.datetime | None = None) -> Decision:
        """The same check inside the caller's write transaction (no race between lanes)."""
        return decide(read_facts(conn, member_id), self.limits, amount_fen,
                      now or dt.datetime.now(dt.UTC))

    async def crm_json(self, method: str, path: str, payload: dict[str, Any],
                       timeout_s: float) -> Any:
        """Send one signed request beside the sync traffic (a member look-up); return its JSON.

        Raises ``NotPaired`` while there is no link, a ``SyncError`` when the CRM refuses or
        does not answer, ``TimeoutError`` after ``timeout_s``.
        """
        transport = self._transport
        if transport is None:
            raise NotPaired("not connected to the CRM")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        async with asyncio.timeout(timeout_s):
            raw = await transport.request(method, path, body)
        return loads_strict(raw)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._store.read(lambda conn: outbox.dead_letters(conn, limit))

    async def conflicts(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._store.read(lambda conn: outbox.conflicts(conn, limit))

    async def retry_dead_letters(self, seqs: list[int] | None = None) -> int:
        """Send dead letters again (after the cause was fixed); return how many were marked."""
        count = await self._store.write(lambda conn: outbox.request_retry(conn, seqs))
        self.nudge()
        return count

    # -- the task ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled: figures always; the link once the device is paired."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._figures_loop(), name="sync:figures")
            if self._sync.enabled:
                tasks.create_task(self._link_loop(), name="sync:link")
            else:
                self._not_paired = None

    async def _link_loop(self) -> None:
        while True:
            creds = await self._wait_for_credentials()
            self.credentials = creds
            self.crm_url = self._sync.crm_url or creds.crm_url
            _LOGGER.info("Sync: paired as %s with %s", creds.device_key, self.crm_url)
            transport = Transport(
                self.crm_url, device_key=creds.device_key, secret=creds.secret,
                connect_timeout_s=self._sync.connect_timeout_ms / 1000,
                request_timeout_s=self._sync.request_timeout_ms / 1000,
                max_response_bytes=self._sync.max_response_bytes,
                ca_file=self._sync.ca_file or None,
                retry_after_max_s=self._sync.retry_after_max_ms / 1000)
            try:
                async with transport, asyncio.TaskGroup() as tasks:
                    self._transport = transport
                    link = Link(self._gate, self._succeeded, self._failed, self._after_push)
                    pusher = Pusher(self._sync, self._store, transport, link,
                                    nudge=self._nudge, backoff=self._backoff())
                    tasks.create_task(pusher.run(), name="sync:push")
                    for stream in STREAM_NAMES:
                        tasks.create_task(self._pull_loop(transport, stream),
                                          name=f"sync:pull:{stream}")
                    tasks.create_task(self._watch_credentials(), name="sync:credentials")
            except* _CredentialsChanged:
                _LOGGER.info("Sync: the credentials changed; reconnecting")
            finally:
                self._transport = None

    async def _wait_for_credentials(self) -> Credentials:
        path = self._sync.credentials_path(self._config.paths.state_dir)
        while True:
            try:
                creds = await asyncio.to_thread(load_credentials, path, self._config.store.id,
                                                self._config.store.device_id)
            except NotPaired as err:
                self.credentials = self.crm_url = None
                self._not_paired = str(err)
                self._reassess()      # logs the reason once, when it changes
                await asyncio.sleep(self._sync.credentials_poll_ms / 1000)
                continue
            self._not_paired = None
            self._reassess()
            return creds

    async def _watch_credentials(self) -> None:
        path = self._sync.credentials_path(self._config.paths.state_dir)
        stamp = _stamp(path)
        while True:
            await asyncio.sleep(self._sync.credentials_poll_ms / 1000)
            if _stamp(path) != stamp:
                raise _CredentialsChanged

    async def _figures_loop(self) -> None:
        while True:
            await self._refresh_figures()
            await asyncio.sleep(self._sync.status_refresh_ms / 1000)

    async def _refresh_figures(self) -> None:
        if self._store.safe_mode:
            return
        self._figures, self._streams = await self._store.read(
            functools.partial(_read_figures, pending=self._pending_sum))
        self._figures_at = time.monotonic()
        self._reassess()

    # -- pull ----------------------------------------------------------------------------

    async def _pull_loop(self, transport: Transport, stream: str) -> None:
        backoff = self._backoff()
        size = self._sync.pull_page_size
        while True:
            await self._gate()
            cursor = await self._store.read(lambda conn: stream_cursor(conn, stream))
            try:
                page = await self._fetch(transport, stream, cursor, size)
                applied = await self._store.write(
                    functools.partial(apply_page, page=page, expected_cursor=cursor))
            except (SyncError, ProtocolError) as err:
                if isinstance(err, ProtocolError | RequestRefused):
                    self._stream_errors[stream] = f"{stream} updates refused: {err}"
                self._failed(err)
                await asyncio.sleep(backoff.next_delay(getattr(err, "retry_after_s", None)))
                continue
            backoff.reset()
            self._stream_errors.pop(stream, None)
            self._succeeded()
            if applied and page.changes:
                _LOGGER.info("Sync: applied %d %s change(s)", len(page.changes), stream)
                if stream in CACHED_STREAMS and self._catalog is not None:
                    self._catalog.invalidate()
            if not page.has_more:
                await asyncio.sleep(self._sync.pull_interval_ms / 1000)

    async def _fetch(self, transport: Transport, stream: str, cursor: str,
                     size: int) -> ChangesPage:
        raw = await transport.request(
            "GET", f"/v1/changes?stream={stream}&after={cursor}&limit={size}")
        self._skew_s = transport.skew_s
        page = await asyncio.to_thread(parse_changes_page, raw, stream, size)
        precheck(page)
        return page

    # -- bookkeeping -----------------------------------------------------------------------

    async def _after_push(self, latency_s: float, skew_s: float | None) -> None:
        self._push_latency_s = round(latency_s, 4)
        self._skew_s = skew_s
        if self._observe_push is not None:
            self._observe_push(latency_s)
        if time.monotonic() - self._figures_at > self._sync.status_refresh_ms / 1000:
            await self._refresh_figures()

    def _backoff(self) -> Backoff:
        return Backoff(self._sync.backoff_base_ms / 1000, self._sync.backoff_max_ms / 1000)

    async def _gate(self) -> None:
        """Wait while the breaker is open (one task probes when it half-opens)."""
        while wait := self._breaker.wait_s(time.monotonic()):
            self._reassess()
            await asyncio.sleep(wait)

    def _succeeded(self) -> None:
        self._last_success = time.time()
        self._breaker.success()
        self._reassess()

    def _failed(self, err: Exception) -> None:
        self._last_failure = time.time()
        self._last_error = str(err)[:500]
        self._breaker.failure(time.monotonic())
        _LOGGER.debug("Sync failure: %s", err)
        self._reassess()

    def _reassess(self) -> None:
        f = self._figures
        state = assess(Facts(
            now=time.time(), enabled=self._sync.enabled, not_paired=self._not_paired,
            breaker=self._breaker.state, last_success=self._last_success,
            last_failure=self._last_failure, last_error=self._last_error,
            stream_error=next(iter(self._stream_errors.values()), None),
            dead_letters=f.dead_letters if f else 0, skew_s=self._skew_s,
            oldest_pending_age_s=_age_s(f.oldest_pending_at) if f and f.oldest_pending_at
            else None,
            pending_count=f.pending_count if f else 0,
            offline_after_s=self._sync.offline_after_ms / 1000,
            max_skew_s=self._sync.max_clock_skew_ms / 1000,
            backlog_warn_s=self._sync.backlog_warn_ms / 1000))
        if state != self.state:
            previous, self.state = self.state, state
            # Log a new kind of trouble, not every new count ("512 events waiting").
            if state.state != previous.state or _shape(state.reason) != _shape(previous.reason):
                level = logging.INFO if state.state == ONLINE else logging.WARNING
                change = state.state if previous.state == state.state else \
                    f"{previous.state} -> {state.state}"
                _LOGGER.log(level, "Sync %s: %s", change, state.reason)
            if self._on_change is not None:
                self._on_change(state)


def _shape(reason: str) -> str:
    return _NUMBER.sub("#", reason)


def _read_figures(conn: sqlite3.Connection, pending: outbox.PendingSum,
                  ) -> tuple[outbox.QueueFigures, dict[str, Any]]:
    streams = {r[0]: {"cursor": r[1], "checked_at": r[2], "changed_at": r[3]}
               for r in conn.execute(
                   "SELECT stream, cursor, checked_at, changed_at FROM sync_cursors")}
    return outbox.queue_figures(conn, pending), streams


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime, info.st_size


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds") if ts else None


def _age_s(iso: str) -> float:
    at = dt.datetime.fromisoformat(iso)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return round(max(0.0, (dt.datetime.now(dt.UTC) - at).total_seconds()), 1)
