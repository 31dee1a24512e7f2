"""The pusher: sends the outbox to the CRM in order, up to two batches in flight.

While a batch is on the wire the next one is read, gzipped and posted too (the edge's share of
the work, and the CRM's parsing of one batch, overlap the CRM's storing of the other). Answers
are recorded in the order the batches were read; when one does not move the cursor past its
batch, the batches after it are dropped and read again from the cursor. A batch the CRM
blames is halved until the one event at fault is alone, and that one is dead-lettered; every
other failure waits and retries.
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
        # Posted batches whose answers are not recorded yet, oldest first: at most
        # ``push_in_flight``. Answers are recorded in this order whatever order they come in.
        flight: list[tuple[Prepared, asyncio.Task[bytes]]] = []
        try:
            while True:
                await self._link.gate()
                if not flight:
                    prepared = await self._prepare(None)
                    if not prepared.batch.rows and not prepared.batch.skipped:
                        if await sleep_or_event(self._nudge,
                                                self._config.push_interval_ms / 1000):
                            await asyncio.sleep(self._config.push_linger_ms / 1000)
                        continue
                    flight.append((prepared, self._post_task(prepared)))
                await self._post_more(flight)
                head, task = flight.pop(0)
                ack_limit = max(p.batch.ack_limit for p in [head, *(p for p, _ in flight)])
                cursor = await self._settle(head, task, ack_limit)
                if flight and (cursor is None or cursor < max(head.batch.seqs)):
                    # Sent again from the cursor; whatever of it the CRM already stored, it
                    # recognises by event id.
                    await _drop(*(t for _, t in flight))
                    flight.clear()
        finally:
            await _drop(*(t for _, t in flight))

    async def _post_more(self, flight: list[tuple[Prepared, asyncio.Task[bytes]]]) -> None:
        """Read, gzip and post the batches after the last one in flight, up to the window.

        The CRM stores a batch that arrives before the one ahead of it and moves its
        watermark over both once the gap is filled, so the next batch need not wait for the
        answer to this one: the CRM parses one while it stores the other.
        """
        while len(flight) < self._config.push_in_flight:
            last = flight[-1][0].batch
            if last.retry or not last.rows:
                return
            prepared = await self._prepare(max(last.seqs))
            if not prepared.batch.rows and not prepared.batch.skipped:
                return
            flight.append((prepared, self._post_task(prepared)))

    def _post_task(self, prepared: Prepared) -> asyncio.Task[bytes]:
        return asyncio.create_task(self._post(prepared), name="sync:push:post")

    async def _prepare(self, after: int | None) -> Prepared:
        batch = await self._store.read(functools.partial(self._read, after=after))
        return await asyncio.to_thread(encode, batch)

    def _read(self, conn: sqlite3.Connection, after: int | None) -> outbox.Batch:
        max_bytes = self._config.push_batch_bytes
        if after is None and outbox.has_retries(conn):
            return outbox.read_retries(conn, self._limit, max_bytes)
        return outbox.read_batch(conn, self._limit, max_bytes, after=after)

    async def _settle(self, prepared: Prepared, task: asyncio.Task[bytes],
                      ack_limit: int) -> int | None:
        """Wait for one push's answer and record it; return the new cursor, None on failure.

        ``ack_limit`` also covers the batches posted after this one: the CRM may have stored
        them first, and then this answer acknowledges them too.
        """
        batch = prepared.batch
        try:
            raw = await task
            seqs = batch.seqs or frozenset(s.seq for s in batch.skipped)
            result = await asyncio.to_thread(parse_push_response, raw, seqs, ack_limit)
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

    async def _post(self, prepared: Prepared) -> bytes:
        """Send one batch; return the CRM's raw answer."""
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
        return raw

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


async def _drop(*tasks: asyncio.Task[bytes]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _log_result(result: PushResult) -> None:
    if result.rejected:
        _LOGGER.warning("Sync: the CRM refused %d event(s), dead-lettered: %s",
                        len(result.rejected), "; ".join(
                            f"seq {r.seq} {r.code}: {r.message}" for r in result.rejected[:3]))
    if result.conflicts:
        _LOGGER.warning("Sync: the CRM flagged %d conflict(s), e.g. %s %s",
                        len(result.conflicts), result.conflicts[0].kind,
                        result.conflicts[0].subject)
