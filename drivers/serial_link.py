"""Serial devices (scanners, scales): port settings, finding the port, reconnecting with backoff.

A serial device is named by ``port`` (a path such as ``/dev/serial/by-id/usb-...`` or
``/dev/ttyACM0``, or a pyserial URL such as ``socket://10.0.0.5:4001`` for a serial server), or
by the identity keys ``serial``/``phys``/``usb`` matched against pyserial's port list.

``SerialDriver`` owns the connection: it opens the port in a thread (opening can block), hands
it to pyserial-asyncio's transport, and when the device goes away (unplugged, powered off, the
serial server gone) it says so in its status and tries again with exponential backoff, forever.
Subclasses feed on ``_on_data`` and may run a ``_session`` while connected (a scale's polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serial
import serial_asyncio
from serial.tools import list_ports

from . import options as opt
from .base import DeviceConfig, DeviceConfigError, DeviceState, Driver, TestResult
from .identity import Candidate, Identity, match

_LOGGER = logging.getLogger(__name__)

SERIAL_KEYS = frozenset({"port", "serial", "phys", "usb", "baudrate", "bytesize", "parity",
                         "stopbits", "rtscts", "xonxoff", "open_timeout_ms", "reconnect_min_ms",
                         "reconnect_max_ms"})
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_PARITY = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD}
SERIAL_BY_ID = Path("/dev/serial/by-id")


class PortUnavailable(Exception):
    """The configured port cannot be found or opened; the message says why."""


@dataclass(frozen=True, slots=True)
class SerialSettings:
    port: str | None
    identity: Identity
    baudrate: int
    bytesize: int
    parity: str
    stopbits: int
    rtscts: bool
    xonxoff: bool
    open_timeout: float
    reconnect_min: float
    reconnect_max: float

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, baudrate: int = 9600,
                     bytesize: int = 8, parity: str = "none") -> SerialSettings:
        identity = Identity.from_options({k: options[k] for k in ("serial", "phys", "usb")
                                          if k in options}, required=False)
        port = options.get("port")
        if port is not None:
            port = opt.text(options, "port")
            if port.startswith("loop://"):
                raise DeviceConfigError("port", "loop:// does not work with asyncio; use a "
                                        "pty or socket://")
        if port is None and not identity.given:
            raise DeviceConfigError("port", "name the port (a path or a socket:// URL) or the "
                                    "device by serial, phys or usb")
        low = opt.seconds(options, "reconnect_min_ms", 500, 10, 600_000)
        high = opt.seconds(options, "reconnect_max_ms", 30_000, 10, 3_600_000)
        if high < low:
            raise DeviceConfigError("reconnect_max_ms", "must not be below reconnect_min_ms")
        return cls(
            port=port, identity=identity,
            baudrate=opt.choice(options, "baudrate", baudrate, BAUDRATES),
            bytesize=opt.choice(options, "bytesize", bytesize, (7, 8)),
            parity=opt.choice(options, "parity", parity, tuple(_PARITY)),
            stopbits=opt.choice(options, "stopbits", 1, (1, 2)),
            rtscts=opt.boolean(options, "rtscts", False),
            xonxoff=opt.boolean(options, "xonxoff", False),
            open_timeout=opt.seconds(options, "open_timeout_ms", 5000, 10, 60_000),
            reconnect_min=low, reconnect_max=high,
        )

    def describe(self) -> str:
        return self.port or self.identity.describe()


def serial_candidates(by_id: Path = SERIAL_BY_ID) -> list[Candidate]:
    """Describe the serial ports present now (pyserial's list, plus udev by-id links)."""
    links: dict[str, list[str]] = {}
    with contextlib.suppress(OSError):
        for entry in sorted(os.listdir(by_id)):
            with contextlib.suppress(OSError):
                links.setdefault(os.path.realpath(by_id / entry, strict=True), []).append(
                    str(by_id / entry))
    return [Candidate(node=p.device, device=p.device, links=tuple(links.get(p.device, ())),
                      serial=p.serial_number, phys=p.location, vendor_id=p.vid,
                      product_id=p.pid, name=p.description or "")
            for p in list_ports.comports()]


def resolve_port(settings: SerialSettings) -> str:
    """Return the path or URL to open; raise ``PortUnavailable`` naming what is missing."""
    if settings.port is not None:
        return settings.port
    found = match(settings.identity, serial_candidates())
    if not found.nodes:
        raise PortUnavailable(found.reason)
    return found.nodes[0].node


def open_port(url: str, settings: SerialSettings) -> serial.SerialBase:
    """Open the port (blocking: call it in a thread)."""
    return serial.serial_for_url(
        url, baudrate=settings.baudrate, bytesize=settings.bytesize,
        parity=_PARITY[settings.parity], stopbits=settings.stopbits, rtscts=settings.rtscts,
        xonxoff=settings.xonxoff, timeout=0, write_timeout=0)


class _Link(asyncio.Protocol):
    """Bridges the transport to the driver; ``lost`` holds the first reason, ``closed`` is set
    once the port is really closed."""

    def __init__(self, driver: SerialDriver) -> None:
        loop = asyncio.get_running_loop()
        self._driver = driver
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self._driver._on_data(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        if not self.closed.done():
            self.closed.set_result(None)


class SerialDriver(Driver):
    """A device on a serial port, reconnected with backoff; subclasses read and write frames."""

    settings: SerialSettings

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self._transport: asyncio.Transport | None = None
        self._link: _Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._delay = 0.0

    # -- hooks for subclasses -----------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        """Bytes arrived from the device."""

    def _on_connected(self) -> None:
        """The port is open."""

    def _on_disconnected(self) -> None:
        """The port is gone; forget partial frames."""

    async def _session(self) -> None:
        """Run while connected (default: nothing to do but listen)."""
        await asyncio.Future()

    # -- the connection -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _send(self, data: bytes) -> bool:
        """Write a short command now; return False when the link is gone.

        Written on the port directly rather than through the transport's buffer: a write that
        fails on an unplugged port must close this link quietly, not be reported to the loop
        as a fatal transport error.
        """
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        try:
            port = transport.get_extra_info("serial")
            port.write(data)
        except (serial.SerialException, OSError) as err:
            _LOGGER.debug("Device %s: write failed: %s", self.device_id, err)
            if self._link is not None and not self._link.lost.done():
                self._link.lost.set_result(err)
            return False
        return True

    async def _open(self) -> None:
        await self._connect()  # the first state is known when start() returns
        self._task = asyncio.create_task(self._run(), name=f"serial:{self.device_id}")

    async def _close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()

    async def _run(self) -> None:
        while True:
            if self.connected:
                started = asyncio.get_running_loop().time()
                reason = await self._serve()
                await self._drop()
                if asyncio.get_running_loop().time() - started > self.settings.reconnect_max:
                    self._delay = 0.0  # it ran well for a while: retry fast again
                self._set_state(DeviceState.ERROR, f"disconnected ({reason}); reconnecting")
            await asyncio.sleep(self._next_delay())
            await self._connect()

    def _next_delay(self) -> float:
        settings = self.settings
        self._delay = min(max(self._delay * 2, settings.reconnect_min), settings.reconnect_max)
        return self._delay

    async def _connect(self) -> bool:
        settings = self.settings
        try:
            url = await asyncio.to_thread(resolve_port, settings)
            port = await self._open_with_timeout(url)
        except (PortUnavailable, serial.SerialException, OSError, ValueError,
                TimeoutError, termios.error) as err:
            retry = min(max(self._delay * 2, settings.reconnect_min), settings.reconnect_max)
            self._set_state(DeviceState.ERROR, f"cannot open {settings.describe()}: "
                            f"{_reason(err)}; retrying in {retry:g} s")
            return False
        transport, link = await serial_asyncio.connection_for_serial(
            asyncio.get_running_loop(), lambda: _Link(self), port)
        self._transport, self._link = transport, link
        _LOGGER.info("Device %s: connected on %s", self.device_id, url)
        self._detail["port"] = url
        self._set_state(DeviceState.IDLE)
        self._on_connected()
        return True

    async def _open_with_timeout(self, url: str) -> serial.SerialBase:
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, open_port, url, self.settings)
        try:
            async with asyncio.timeout(self.settings.open_timeout):
                return await asyncio.shield(opening)
        except TimeoutError:
            # The open may still succeed in its thread: close what it returns.
            opening.add_done_callback(
                lambda f: f.cancelled() or f.exception() or f.result().close())
            raise TimeoutError(f"no answer within {self.settings.open_timeout:g} s") from None

    async def _serve(self) -> str:
        """Run the session until the link drops; return why it dropped."""
        assert self._link is not None
        lost = self._link.lost
        session = asyncio.create_task(self._session(), name=f"session:{self.device_id}")
        try:
            waiting: set[asyncio.Future[Any]] = {session, lost}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await session
        if session.done() and not session.cancelled() and session.exception() is not None:
            _LOGGER.error("Device %s: session failed", self.device_id,
                          exc_info=session.exception())
            return f"session failed: {session.exception()}"
        exc = lost.result() if lost.done() else None
        return _reason(exc) if exc is not None else "closed"

    async def _drop(self) -> None:
        """Close the transport and wait until the port is really closed."""
        transport, link = self._transport, self._link
        self._transport = self._link = None
        if transport is not None and link is not None:
            transport.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(link.closed)
            self._on_disconnected()

    async def test(self) -> TestResult:
        status = self.status
        if not self.connected:
            return TestResult(False, status.reason or "not connected", dict(status.detail))
        return TestResult(True, f"connected on {status.detail.get('port')}", dict(status.detail))


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    if isinstance(err, termios.error):
        return f"the port refuses these settings ({err.args[-1]}): check baudrate, bytesize, " \
            "parity and stopbits"

    text = str(err) or type(err).__name__
    # pyserial's long explanation of a read returning nothing means the device went away.
    if "returned no data" in text:
        return "device disconnected"
    return text
