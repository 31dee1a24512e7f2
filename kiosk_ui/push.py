"""Live updates over WebSocket: a socket pump for any async source, and a shared ``Feed``.

``push_socket`` sends whatever an async iterator yields until either side goes; the iterator is
closed when the socket closes, so a subscription's ``finally`` always runs. ``Feed`` computes a
view once for all watchers, on change (``poke``) or every interval, newest value wins for a
slow watcher. Sockets still open at shutdown are closed with "going away" so a stop never
waits on a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

_LOGGER = logging.getLogger(__name__)
SOCKETS_KEY: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("push_sockets", set)
_CLOSING = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
# Straight to UTF-8 bytes for the text frame: a lane snapshot is ~6 kB, and json.dumps plus
# the frame's str-to-bytes encoding took ~0.2 ms of the event loop per screen per change.
_ENCODE = msgspec.json.Encoder().encode


def setup_push(app: web.Application) -> None:
    """Track ``app``'s sockets so shutdown closes them."""
    app[SOCKETS_KEY] = set()
    app.on_shutdown.append(_close_sockets)


async def _close_sockets(app: web.Application) -> None:
    sockets = app[SOCKETS_KEY]
    for ws in list(sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")


async def push_socket(request: web.Request, source: AsyncIterator[Any], *,
                      heartbeat: float = 10.0) -> web.WebSocketResponse:
    """Send each item of ``source`` as JSON; pages only listen, so messages are ignored."""
    # No permessage-deflate: pages are on the appliance or the store's LAN, where deflating each
    # snapshot (about 0.1 ms of the event loop per screen per change, plus the browser's
    # inflate) saves nothing worth having.
    ws = web.WebSocketResponse(heartbeat=heartbeat, max_msg_size=4096, compress=False)
    await ws.prepare(request)
    sockets = request.app.get(SOCKETS_KEY, set())
    sockets.add(ws)
    receive: asyncio.Future[Any] = asyncio.ensure_future(ws.receive())
    item: asyncio.Future[Any] = asyncio.ensure_future(anext(source))
    try:
        while not ws.closed:
            done, _ = await asyncio.wait({receive, item}, return_when=asyncio.FIRST_COMPLETED)
            if item in done:
                try:
                    payload = item.result()
                except StopAsyncIteration:
                    break
                except Exception:  # the source failed: log it, close this socket cleanly
                    _LOGGER.exception("Live source of %s failed", request.path)
                    break
                await ws.send_frame(_ENCODE(payload), WSMsgType.TEXT)
                item = asyncio.ensure_future(anext(source))
            if receive in done:
                if receive.result().type in _CLOSING:
                    break
                receive = asyncio.ensure_future(ws.receive())
    except (ConnectionResetError, RuntimeError):  # the browser went away mid-send
        pass
    finally:
        for future in (receive, item):
            future.cancel()
        await asyncio.gather(receive, item, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
        await ws.close()
        sockets.discard(ws)
    return ws


class Feed:
    """One computed view (e.g. the dashboard) shared by every page that watches it."""

    def __init__(self, name: str, compute: Callable[[], Awaitable[dict[str, Any]]],
                 interval_s: float, *, min_gap_s: float = 0.2) -> None:
        self.name = name
        self._compute = compute
        self.interval_s = interval_s
        self._min_gap_s = min(min_gap_s, interval_s)
        self.value: dict[str, Any] | None = None
        self._computed_at = 0.0
        self._dirty = True
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._watchers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"feed:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def poke(self) -> None:
        """Say the view changed: recompute soon and push to every watcher."""
        self._dirty = True
        self._wake.set()

    async def current(self) -> dict[str, Any]:
        """Return the view, recomputing it when it changed or is older than the interval."""
        async with self._lock:
            fresh = time.monotonic() - self._computed_at < self.interval_s
            if self.value is None or self._dirty or not fresh:
                self._dirty = False
                self.value = await self._compute()
                self._computed_at = time.monotonic()
            return self.value

    async def watch(self) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the view now and after every recompute (a slow watcher gets the newest)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self._watchers.add(queue)
        try:
            yield await self.current()
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if self._watchers:
                try:
                    self._dirty = True
                    value = await self.current()
                    self.failures = 0
                except Exception:
                    self.failures += 1
                    if self.failures in (1, 10) or self.failures % 100 == 0:
                        _LOGGER.exception("Feed %s failed to compute (%d times)", self.name,
                                          self.failures)
                else:
                    for queue in list(self._watchers):
                        if queue.full():
                            queue.get_nowait()
                        queue.put_nowait(value)
            await asyncio.sleep(self._min_gap_s)
            # Not wait_for: on Python 3.11 it swallows a cancel that arrives as the wake-up
            # does, and stop() then waits for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s - self._min_gap_s):
                    await self._wake.wait()
