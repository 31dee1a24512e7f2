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

from drivers.stream_server import StreamServer

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
        self._server: StreamServer | None = None
        self.port = 0

    async def start(self, port: int = 0) -> FakePrinter:
        self._server = StreamServer(self._serve, name="fake-printer")
        self.port = await self._server.start_tcp("127.0.0.1", port)
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()
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
        except ConnectionError:
            pass
        finally:
            document += pending
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
