"""Where the CRM parses pushes: in worker processes, so parsing runs beside the database work.

Inflating, parsing and checking a push is pure Python holding the GIL: about half the CRM's
CPU per event. In a thread it still queues behind the request handling and the ledger work
of the push before it; in a process of its own (``parse_workers``, default 1 from the CLI) it
runs on the other core while the server stores the previous batch. A worker sends back each
event as plain values (``Incoming.wire``), without the payloads of events that only need
storing. With 0 workers the server parses in a thread, as tests and small setups do.

A worker that dies (killed, out of memory) breaks the pool: the push it was parsing gets a
503 and the edge retries it; the next push starts a fresh pool.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..protocol import MAX_DECODED_BYTES, ProtocolError, decode_body
from .ingest import Incoming, parse_push

_LOGGER = logging.getLogger(__name__)

Parsed = tuple[list[Incoming], list[dict[str, Any]]]

# Allocations between two young collections (CPython's default is 700): more than a push of
# 1,000 events makes (~20,000 short-lived containers), so most of a push dies uncollected.
GC_YOUNG_THRESHOLD = 100_000


def tune_gc_for_ingest() -> None:
    """Freeze what startup made and collect the young generation rarely (the calling process
    only: the server runs it, and so does each push parser as it starts).

    Parsed events are acyclic and die with their push, yet at the default threshold the
    collector walked each push's containers dozens of times and the whole heap often: about
    a fifth of the CRM's CPU per event. Frozen startup objects are never walked again;
    cycles are still collected, in larger steps (a few MB at most).
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _start_worker(parent: int) -> None:
    """Set up a parser process: the collector as the server's, and an end with the server.

    A server killed outright (SIGKILL, OOM) leaves its workers blocked on their queue: each
    watches its parent and leaves once it is gone.
    """
    tune_gc_for_ingest()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class ParserUnavailable(RuntimeError):
    """The parser process died under a push; the push can be sent again."""


def decode_and_parse(body: bytes, encoding: str | None, device: str) -> Parsed:
    """Inflate and parse a push (64 MiB of JSON is not an event loop's job)."""
    return parse_push(decode_body(body, encoding, MAX_DECODED_BYTES), device)


def parse_in_worker(body: bytes, encoding: str | None,
                    device: str) -> tuple[str, Any, list[dict[str, Any]]]:
    """``decode_and_parse`` in a worker process: ("ok", wire events, skipped) or ("bad",
    message, []) for a push the protocol refuses."""
    try:
        incoming, skipped = decode_and_parse(body, encoding, device)
    except ProtocolError as err:
        return "bad", str(err), []
    return "ok", [inc.wire() for inc in incoming], skipped


def _ready() -> bool:
    return True


class PushParser:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        """Start the workers now, so the first push does not wait for them to import."""
        if self.workers:
            await asyncio.wrap_future(self._executor().submit(_ready))
            _LOGGER.info("CRM: %d push parser process(es) ready", self.workers)

    async def parse(self, body: bytes, encoding: str | None, device: str) -> Parsed:
        if not self.workers:
            return await asyncio.to_thread(decode_and_parse, body, encoding, device)
        pool = self._executor()
        try:
            status, found, skipped = await asyncio.wrap_future(
                pool.submit(parse_in_worker, body, encoding, device))
        except BrokenProcessPool:
            _LOGGER.error("CRM: a push parser process died; starting new ones")
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise ParserUnavailable("the push parser restarted; send the push again") from None
        if status != "ok":
            raise ProtocolError(found)
        return [Incoming.from_wire(values) for values in found], skipped

    @property
    def pids(self) -> list[int]:
        """The parser processes running now (ProcessPoolExecutor keeps them by pid)."""
        pool = self._pool
        return list(pool._processes or {}) if pool is not None else []

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the server has threads (SQLite's, aiohttp's resolver), and a fork would
            # copy their locks mid-use.
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(os.getpid(),))
        return self._pool
