"""A stream server that owns its connection tasks, so stopping it is clean at any moment.

``asyncio.start_server`` runs each connection in a task of its own and, when that task ends,
asks it for its exception. A task cancelled before its first step (the loop shutting down
just after a connection was accepted) answers that question by raising, and asyncio logs an
"Exception in callback" nobody can catch. Here the accept callback is a plain function that
starts the handler task itself and keeps it; ``close()`` cancels and awaits every one of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class StreamServer:
    def __init__(self, handler: Handler, *, name: str) -> None:
        self._handler = handler
        self._name = name
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start_tcp(self, host: str, port: int, **kwargs: Any) -> int:
        """Listen on host:port (0 picks a free port); return the port."""
        self._server = await asyncio.start_server(self._accept, host, port, **kwargs)
        return int(self._server.sockets[0].getsockname()[1])

    async def start_unix(self, path: Path, **kwargs: Any) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path, **kwargs)

    @property
    def connections(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Stop listening, cancel every open connection and wait until each has finished."""
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:               # accepted while closing: refuse it
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self._run(reader, writer),
                                                      name=f"{self._name}-connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Closed here, not in the handler: a task cancelled before its first step never runs
        # any of its body, not even a finally.
        task.add_done_callback(lambda t: writer.close() if t.cancelled() else None)

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A handler that returns owns its writer (it may hand it on); one that fails gets its
        # connection closed here, a cancelled one in _accept's done callback.
        try:
            await self._handler(reader, writer)
        except Exception:
            writer.close()
            log.exception("%s: a connection failed", self._name)
