"""A simulated scale: the firmware's side of a protocol, answering on a pty.

``ScaleFirmware`` answers requests as a real scale would (``drivers.scale_protocols``), for a
weight and state that can be set. ``PtyScale`` runs it on the master end of a pseudo-terminal;
the slave end (``port``) is what a ``Scale`` driver opens, exactly like a USB-serial adapter.

``SimScale`` is a driver for the demo: a ``Scale`` whose port is its own simulated firmware,
with a control socket taking one line per change::

    1250            a stable 1250 g
    1250 motion     moving around 1250 g
    zero | over | under | error | silent (stops answering) | answer (answers again)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import tty
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from . import options as opt
from .base import DeviceConfig, DeviceConfigError, ScaleState
from .scale import SCALE_KEYS, Scale, ScaleOptions, parse_scale_options
from .scale_protocols import PROTOCOLS, ScaleProtocol
from .stream_server import StreamServer

_LOGGER = logging.getLogger(__name__)
MAX_GRAMS = 1_000_000


@dataclasses.dataclass
class ScaleFirmware:
    """What the scale answers: the protocol's replies for the weight on the platter."""

    protocol: ScaleProtocol
    grams: int = 0
    state: ScaleState = ScaleState.ZERO
    answering: bool = True
    requests: int = 0

    def set(self, grams: int, state: ScaleState | None = None) -> None:
        self.grams = grams
        self.state = state or (ScaleState.ZERO if grams == 0 else ScaleState.STABLE)

    def answer(self, request: bytes) -> bytes | None:
        self.requests += 1
        if not self.answering:
            return None
        if request == b"Z" and self.state in (ScaleState.STABLE, ScaleState.ZERO) \
                and self.grams < 500:
            self.set(0)  # zero is captured only near zero, as on a real scale
        return self.protocol.answer(request, self.state, self.grams)

    def command(self, line: str) -> str:
        """Apply one control line; return the answer for the sender."""
        words = line.split()
        if not words:
            return "ERROR empty command"
        word = words[0].lower()
        named = {"zero": ScaleState.ZERO, "over": ScaleState.OVER_CAPACITY,
                 "under": ScaleState.UNDER_ZERO, "error": ScaleState.ERROR,
                 "motion": ScaleState.MOTION}
        if word in ("silent", "answer"):
            self.answering = word == "answer"
        elif word in named:
            self.set(0 if word == "zero" else self.grams, named[word])
        elif word.isdigit() and int(word) <= MAX_GRAMS:
            state = named.get(words[1].lower()) if len(words) > 1 else None
            if len(words) > 1 and state is None:
                return f"ERROR unknown state {words[1]!r}"
            self.set(int(word), state)
        else:
            return f"ERROR not a weight or a command: {line[:40]!r}"
        return f"OK {self.grams} {self.state}" + ("" if self.answering else " (silent)")


class PtyScale:
    """Runs a ``ScaleFirmware`` on a pty; an async context owning both ends."""

    def __init__(self, firmware: ScaleFirmware, link: Path | None = None) -> None:
        self.firmware = firmware
        self.link = link
        self.port = ""
        self._master = self._slave = -1
        self._pending = b""

    async def __aenter__(self) -> Self:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            self.link.unlink(missing_ok=True)
            self.link.symlink_to(self.port)
            self.port = str(self.link)
        asyncio.get_running_loop().add_reader(self._master, self._readable)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Pull the plug: the driver's port fails as an unplugged adapter's does."""
        if self._master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1
        if self.link is not None:
            self.link.unlink(missing_ok=True)

    def send(self, data: bytes) -> None:
        """Send unsolicited bytes (a scanner-scale's barcode) to the host."""
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return
        requests, self._pending = self.firmware.protocol.split_requests(self._pending + data)
        for request in requests:
            reply = self.firmware.answer(request)
            if reply:
                self.send(reply)


class SimScale(Scale):
    """A scale driver wired to its own simulated firmware (demo and tests)."""

    name = "sim_scale"

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(dataclasses.replace(config, options=_sim_defaults(config.options)))
        self.firmware = ScaleFirmware(PROTOCOLS[self.options.protocol](self.options.unit))
        self.control = Path(str(config.options["control"])) if "control" in config.options \
            else None
        self._pty: PtyScale | None = None
        self._server: StreamServer | None = None

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> ScaleOptions:
        options = _sim_defaults(options)
        control = options.pop("control", None)
        if control is not None:
            path = opt.text({"control": control}, "control")
            if len(os.fsencode(path)) > 100:
                raise DeviceConfigError("control", "path is too long for a Unix socket")
        return parse_scale_options(options, SCALE_KEYS)

    async def _open(self) -> None:
        self._pty = PtyScale(self.firmware)
        await self._pty.__aenter__()
        self.settings = dataclasses.replace(self.settings, port=self._pty.port)
        if self.control is not None:
            self.control.parent.mkdir(parents=True, exist_ok=True)
            self.control.unlink(missing_ok=True)
            self._server = StreamServer(self._serve_control, name=f"scale {self.device_id}")
            await self._server.start_unix(self.control, limit=4096)
        await super()._open()

    async def _close(self) -> None:
        try:
            await super()._close()
        finally:
            if self._server is not None:
                await self._server.close()
                self._server = None
            if self.control is not None:
                self.control.unlink(missing_ok=True)
            if self._pty is not None:
                self._pty.close()
                self._pty = None

    async def _serve_control(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = self.firmware.command(line.decode("utf-8", "replace").strip())
                writer.write(answer.encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):
            pass  # a line over the limit or a sender gone: drop this connection only
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _sim_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    # A pty takes 8 data bits and no parity only (Linux refuses CS7 and PARENB on some kernels),
    # and the port is the simulator's own.
    return {"port": "sim", "bytesize": 8, "parity": "none", **options}


async def send_weight(path: Path, line: str) -> str:
    """Send one control line to a simulated scale; return its answer (caller bounds the wait)."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        return (await reader.readline()).decode("utf-8", "replace").strip()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
