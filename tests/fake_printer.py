"""A network receipt printer on 127.0.0.1: records ESC/POS bytes, answers DLE EOT like a real one.

Each connection's bytes other than status queries are one document, as the printer would print
them. Status answers follow the ESC/POS real-time status bytes (bits 1 and 4 always set):
``DLE EOT 1`` bit 3 offline; ``DLE EOT 2`` bit 2 cover open, bit 5 stopped at paper end;
``DLE EOT 4`` bits 2-3 paper near end, bits 5-6 paper end.

``hold_after_data`` makes the printer sit on the first status query that follows document
bytes, as a printer busy feeding would, until ``release()``: the moment a host is most exposed
to a crash between sending a job and recording it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

DLE_EOT = b"\x10\x04"


@dataclass
class FakePrinter:
    paper: str = "ok"              # "ok", "low", "out"
    cover_open: bool = False
    online: bool = True
    hold_after_data: bool = False
    queries: int = 0
    _documents: list[bytearray] = field(default_factory=list)

    @property
    def documents(self) -> list[bytes]:
        """What each connection printed, kept as it arrives (not only once it closes)."""
        return [bytes(d) for d in self._documents if d]

    def __post_init__(self) -> None:
        self.held = asyncio.Event()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, port: int = 0) -> FakePrinter:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    def release(self) -> None:
        self._release.set()

    def status_byte(self, n: int) -> int:
        byte = 0x12
        if n == 1 and not self.online:
            byte |= 0x08
        if n == 2:
            byte |= 0x04 if self.cover_open else 0
            byte |= 0x20 if self.paper == "out" else 0
        if n == 4:
            byte |= {"ok": 0, "low": 0x0C, "out": 0x6C}[self.paper]
        return byte

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        document = bytearray()
        self._documents.append(document)
        pending = b""
        try:
            while data := await reader.read(4096):
                pending += data
                while (at := pending.find(DLE_EOT)) >= 0 and len(pending) >= at + 3:
                    document += pending[:at]
                    n, pending = pending[at + 2], pending[at + 3:]
                    if document and self.hold_after_data and not self._release.is_set():
                        self.held.set()
                        await self._release.wait()
                    self.queries += 1
                    writer.write(bytes([self.status_byte(n)]))
                    await writer.drain()
                if DLE_EOT[:1] not in pending:
                    document += pending
                    pending = b""
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            document += pending
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
