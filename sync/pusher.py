"""The pusher: sends the outbox to the CRM in order, one batch in flight, the next one ready.

While a batch is on the wire the next one is read and gzipped (the edge's share of the work
overlaps the CRM's); it is used only if the answer moved the cursor exactly past the batch
sent, otherwise it is dropped and read again. A batch the CRM blames is halved until the one
event at fault is alone, and that one is dead-lettered; every other failure waits and retries.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge.store import Store

from . import outbox
from .config import SyncConfig
from .errors import AuthFailed, RequestRefused, TransientError
from .messages import PushResult, parse_push_response
from .protocol import (
    MAX_PAYLOAD_BYTES,
    PUSH_CONTENT_TYPE,
    ProtocolError,
    dumps,
    encode_events,
    gzip_body,
)
from .retry import Backoff
from .transport import Transport, sleep_or_event

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Link:
    """What the pusher reports to, and waits on: the client's shared bookkeeping."""

    gate: Callable[[], Awaitable[None]]                     # the circuit breaker
    succeeded: Callable[[], None]
    failed: Callable[[Exception], None]
    after_push: Callable[[float, float | None], Awaitable[None]]   # latency, clock skew


@dataclass(frozen=True, slots=True)
class Prepared:
    batch: outbox.Batch
    body: bytes          # gzip
    key: str             # Idempotency-Key


def encode(batch: outbox.Batch) -> Prepared:
    """Gzip a batch as NDJSON: its events, then the events it skips."""
    if not batch.rows and not batch.skipped:
        return Prepared(batch, b"", "")
    lines = [encode_events(batch.rows)] if batch.rows else []
    lines += [dumps({"skipped": s.as_dict()}) for s in batch.skipped]
    raw = b"\n".join(lines)
    seqs = sorted(batch.seqs) or [s.seq for s in batch.skipped]
    key = f"{seqs[0]}-{seqs[-1]}.{hashlib.sha256(raw).hexdigest()[:32]}"
    return Prepared(batch, gzip_body(raw), key)


class Pusher:
    def __init__(self, config: SyncConfig, store: Store, transport: Transport, link: Link, *,
                 nudge: asyncio.Event, backoff: Backoff) -> None:
        self._config, self._store, self._transport = config, store, transport
        self._link, self._nudge = link, nudge
        self._backoff = backoff
        self._limit = config.push_batch_events

    async def run(self) -> None:
        ahead: asyncio.Task[Prepared] | None = None
        try:
            while True:
                await self._link.gate()
                prepared = await ahead if ahead is not None else await self._prepare(None)
                ahead = None
                batch = prepared.batch
                if not batch.rows and not batch.skipped:
                    if await sleep_or_event(self._nudge, self._config.push_interval_ms / 1000):
                        await asyncio.sleep(self._config.push_linger_ms / 1000)
                    continue
                if not batch.retry and batch.rows:
                    ahead = asyncio.create_task(self._prepare(max(batch.seqs)),
                                                name="sync:push:ahead")
                cursor = await self._send(prepared)
                if ahead is not None and cursor != max(batch.seqs):
                    await _drop(ahead)
                    ahead = None
        finally:
            if ahead is not None:
                await _drop(ahead)

    async def _prepare(self, after: int | None) -> Prepared:
        batch = await self._store.read(functools.partial(self._read, after=after))
        return await asyncio.to_thread(encode, batch)

    def _read(self, conn: sqlite3.Connection, after: int | None) -> outbox.Batch:
        max_bytes = self._config.push_batch_bytes
        if after is None and outbox.has_retries(conn):
            return outbox.read_retries(conn, self._limit, max_bytes)
        return outbox.read_batch(conn, self._limit, max_bytes, after=after)

    async def _send(self, prepared: Prepared) -> int | None:
        """Push one batch and record the answer; return the new cursor, None on failure."""
        batch = prepared.batch
        try:
            result = await self._post(prepared)
        except RequestRefused as err:
            if err.blames_body:
                await self._refused(batch, err)
                return None
            self._link.failed(err)
            await asyncio.sleep(self._backoff.next_delay())
            return None
        except (TransientError, AuthFailed, ProtocolError) as err:
            self._link.failed(err)
            await asyncio.sleep(self._backoff.next_delay(getattr(err, "retry_after_s", None)))
            return None
        self._backoff.reset()
        self._limit = min(self._config.push_batch_events, self._limit * 2)
        cursor = await self._store.write(
            functools.partial(outbox.record_push, batch=batch, result=result))
        self._link.succeeded()
        _log_result(result)
        return cursor

    async def _post(self, prepared: Prepared) -> PushResult:
        batch = prepared.batch
        too_big = [r for r in batch.rows if len(r[4]) > MAX_PAYLOAD_BYTES]
        if too_big:
            # Refused by every CRM; say so here rather than send it.
            raise RequestRefused(413, "too_large", f"event seq {too_big[0][0]} is "
                                 f"{len(too_big[0][4])} bytes, over {MAX_PAYLOAD_BYTES}")
        started = time.monotonic()
        raw = await self._transport.request(
            "POST", "/v1/events", prepared.body, gzipped=True, content_type=PUSH_CONTENT_TYPE,
            idempotency_key=prepared.key)
        await self._link.after_push(time.monotonic() - started, self._transport.skew_s)
        seqs = batch.seqs or frozenset(s.seq for s in batch.skipped)
        return await asyncio.to_thread(parse_push_response, raw, seqs, batch.ack_limit)

    async def _refused(self, batch: outbox.Batch, err: RequestRefused) -> None:
        """Halve a refused batch until the one event at fault is alone; dead-letter that one."""
        self._link.failed(err)
        if len(batch.rows) > 1:
            self._limit = max(1, len(batch.rows) // 2)
            _LOGGER.warning("Sync: the CRM refused a batch of %d (%s); trying %d",
                            len(batch.rows), err, self._limit)
            return
        self._limit = self._config.push_batch_events
        if not batch.rows:
            await asyncio.sleep(self._backoff.next_delay())
            return
        row = batch.rows[0]
        _LOGGER.error("Sync: event seq %d (%s) refused on its own, dead-lettered: %s",
                      row[0], row[2], err)
        await self._store.write(
            functools.partial(outbox.dead_letter_locally, row=row, code=err.code,
                              message=str(err)))


async def _drop(task: asyncio.Task[Prepared]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _log_result(result: PushResult) -> None:
    if result.rejected:
        _LOGGER.warning("Sync: the CRM refused %d event(s), dead-lettered: %s",
                        len(result.rejected), "; ".join(
                            f"seq {r.seq} {r.code}: {r.message}" for r in result.rejected[:3]))
    if result.conflicts:
        _LOGGER.warning("Sync: the CRM flagged %d conflict(s), e.g. %s %s",
                        len(result.conflicts), result.conflicts[0].kind,
                        result.conflicts[0].subject)
