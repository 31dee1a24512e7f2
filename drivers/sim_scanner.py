"""A scanner fed through a local Unix socket: what the demo and ``storeedge scan`` use.

Each line written to the socket is one scan. The scanner answers each line with
``OK <event_id>`` or ``REJECTED <reason>`` so a sender can follow its scan through the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import (
    MAX_SCAN_LENGTH,
    DeviceConfigError,
    DeviceState,
    Driver,
    ScanData,
    TestResult,
    validate_scan_bytes,
)
from .stream_server import StreamServer

_LOGGER = logging.getLogger(__name__)
_READ_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class SocketScannerOptions:
    socket: Path


class SocketScanner(Driver):
    """Simulated scanner listening on a Unix socket."""

    name = "sim_scanner"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.options = self.parse_options(config.options)
        self._server: StreamServer | None = None

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> SocketScannerOptions:
        path = options.get("socket")
        if not isinstance(path, str) or not path:
            raise DeviceConfigError("socket", "a path to a Unix socket is required")
        if len(os.fsencode(path)) > 100:
            raise DeviceConfigError("socket", "path is too long for a Unix socket (max 100 bytes)")
        return SocketScannerOptions(Path(path))

    async def _open(self) -> None:
        path = self.options.socket
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = StreamServer(self._serve, name=f"scanner {self.device_id}")
        await self._server.start_unix(path, limit=_READ_LIMIT)
        os.chmod(path, 0o660)
        self._set_state(DeviceState.IDLE)

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.options.socket.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await self._read_line(reader):
                event = validate_scan_bytes(
                    self.device_id, line.rstrip(b"\r\n"), max_length=MAX_SCAN_LENGTH
                )
                self._emit(event)
                if isinstance(event, ScanData):
                    writer.write(f"OK {event.event_id}\n".encode())
                else:
                    writer.write(f"REJECTED {event.reason}\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _read_line(self, reader: asyncio.StreamReader) -> bytes:
        try:
            return await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            # Swallow the oversized line so the sender gets a rejection, not a hang-up.
            chunk = await reader.read(_READ_LIMIT)
            while chunk and not chunk.endswith(b"\n"):
                chunk = await reader.read(_READ_LIMIT)
            return b"x" * (MAX_SCAN_LENGTH * 4 + 1) + b"\n"
        except asyncio.IncompleteReadError as err:
            return err.partial  # a last line without newline still counts

    async def test(self) -> TestResult:
        ok = self._server is not None and self.options.socket.exists()
        return TestResult(ok, f"listening on {self.options.socket}" if ok else "not listening")


async def send_scan(path: Path, code: str) -> str:
    """Send one scan to a simulated scanner; return its answer line (caller bounds the wait)."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(code.encode("utf-8") + b"\n")
        await writer.drain()
        answer = await reader.readline()
        return answer.decode("utf-8", "replace").strip()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
