"""The contract every device driver follows, and the typed events drivers emit.

Drivers know nothing of the domain: a scan gun emits ``ScanData`` text, never "a product".
State follows the UnifiedPOS model in small: closed -> idle <-> busy, and error with a reason.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

_LOGGER = logging.getLogger(__name__)

MAX_SCAN_LENGTH = 256


class DriverError(Exception):
    """Base of every driver failure."""


class DeviceConfigError(DriverError):
    """A device's options in the config are wrong; ``key`` names the option."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class DeviceState(enum.StrEnum):
    CLOSED = "closed"
    IDLE = "idle"
    BUSY = "busy"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One ``[[devices]]`` entry of the config, as drivers see it."""

    id: str
    driver: str
    lane: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    driver: str
    state: DeviceState
    reason: str | None = None
    last_seen: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "driver": self.driver,
            "state": str(self.state),
            "reason": self.reason,
            "last_seen": self.last_seen,
            "detail": dict(self.detail),
        }


def preview(text: str) -> str:
    """Show a scan on the console without its middle (payment and member codes are secrets)."""
    return text if len(text) <= 8 else f"{text[:2]}{'*' * (len(text) - 6)}{text[-4:]}"


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class ScanData:
    """A complete, well-formed scan: printable text as the scanner read it."""

    device_id: str
    text: str
    symbology: str | None = None
    raw: bytes = b""
    received_at: float = field(default_factory=time.time)
    event_id: str = field(default_factory=new_event_id)


@dataclass(frozen=True, slots=True)
class ScanRejected:
    """Bytes from a scanner that are not a usable scan, with the reason why."""

    device_id: str
    reason: str
    raw: bytes = b""
    received_at: float = field(default_factory=time.time)
    event_id: str = field(default_factory=new_event_id)


class ScaleState(enum.StrEnum):
    STABLE = "stable"
    MOTION = "motion"
    ZERO = "zero"
    OVER_CAPACITY = "over_capacity"
    UNDER_ZERO = "under_zero"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class WeightReading:
    device_id: str
    grams: int
    state: ScaleState
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: DeviceStatus


DeviceEvent = ScanData | ScanRejected | WeightReading | StatusChanged


@dataclass(frozen=True, slots=True)
class TestResult:
    """What the console's Test button shows."""

    ok: bool
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)


def validate_scan_bytes(
    device_id: str, raw: bytes, *, symbology: str | None = None, max_length: int = MAX_SCAN_LENGTH
) -> ScanData | ScanRejected:
    """Turn one framed scan into ``ScanData``, or ``ScanRejected`` with the reason."""
    if not raw:
        return ScanRejected(device_id, "empty scan", raw)
    if len(raw) > max_length * 4:
        return ScanRejected(device_id, f"longer than {max_length} characters", raw[:1024])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return ScanRejected(device_id, f"not valid UTF-8 at byte {err.start}", raw)
    return validate_scan_text(device_id, text, raw=raw, symbology=symbology, max_length=max_length)


def validate_scan_text(
    device_id: str,
    text: str,
    *,
    raw: bytes = b"",
    symbology: str | None = None,
    max_length: int = MAX_SCAN_LENGTH,
) -> ScanData | ScanRejected:
    """Check decoded scan text for length and control characters."""
    if not text:
        return ScanRejected(device_id, "empty scan", raw)
    if len(text) > max_length:
        return ScanRejected(device_id, f"longer than {max_length} characters", raw[:1024])
    # GS (0x1d) is the GS1 FNC1 separator and belongs in GS1 element strings; all other
    # control characters mean line noise or a misconfigured scanner.
    bad = next((c for c in text if (ord(c) < 0x20 and c != "\x1d") or 0x7F <= ord(c) < 0xA0), None)
    if bad is not None:
        return ScanRejected(device_id, f"control character 0x{ord(bad):02x} in scan", raw)
    return ScanData(device_id, text, symbology, raw)


class Driver(abc.ABC):
    """Base of every device driver.

    Subclasses implement ``_open``/``_close`` and feed events through ``_emit``; the base keeps
    the bounded queue, the status and the task bookkeeping.
    """

    name: ClassVar[str]
    queue_size: ClassVar[int] = 256

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self._queue: asyncio.Queue[DeviceEvent] = asyncio.Queue(self.queue_size)
        self._state = DeviceState.CLOSED
        self._reason: str | None = None
        self._last_seen: float | None = None
        self._detail: dict[str, Any] = {}
        self.dropped_events = 0

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> object:
        """Validate this driver's options; raise ``DeviceConfigError`` naming the bad key."""
        return options

    @property
    def device_id(self) -> str:
        return self.config.id

    @property
    def status(self) -> DeviceStatus:
        return DeviceStatus(
            self.config.id, self.name, self._state, self._reason, self._last_seen,
            dict(self._detail),
        )

    async def start(self) -> None:
        await self._open()

    async def stop(self) -> None:
        try:
            await self._close()
        finally:
            self._set_state(DeviceState.CLOSED)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def events(self) -> AsyncGenerator[DeviceEvent, None]:
        """Yield events until cancelled."""
        while True:
            yield await self._queue.get()

    async def test(self) -> TestResult:
        """Check the device answers; what the console's Test button runs."""
        status = self.status
        ok = status.state in (DeviceState.IDLE, DeviceState.BUSY)
        return TestResult(ok, f"{status.state}" + (f": {status.reason}" if status.reason else ""))

    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    def _emit(self, event: DeviceEvent) -> None:
        """Queue an event; when the consumer falls behind, the oldest event goes."""
        if not isinstance(event, StatusChanged):
            self._last_seen = time.time()
            self._note(event)
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
                self.dropped_events += 1
                if self.dropped_events in (1, 10, 100) or self.dropped_events % 1000 == 0:
                    _LOGGER.warning(
                        "Device %s: consumer behind, %d events dropped",
                        self.device_id,
                        self.dropped_events,
                    )

    def _note(self, event: ScanData | ScanRejected | WeightReading) -> None:
        """Keep the last scan or weight in the status detail, for the console."""
        if isinstance(event, WeightReading):
            self._detail["last_weight"] = {"grams": event.grams, "state": str(event.state),
                                           "at": event.received_at}
        elif isinstance(event, ScanData):
            self._detail["last_scan"] = {"ok": True, "text": preview(event.text),
                                         "symbology": event.symbology, "at": event.received_at}
        else:
            self._detail["last_scan"] = {"ok": False, "reason": event.reason,
                                         "at": event.received_at}

    def _update_detail(self, **detail: Any) -> None:
        """Change the status detail and tell listeners (state and reason stay)."""
        self._detail.update(detail)
        self._emit(StatusChanged(self.status))

    def _set_state(self, state: DeviceState, reason: str | None = None) -> None:
        if state == self._state and reason == self._reason:
            return
        self._state, self._reason = state, reason
        if state is DeviceState.ERROR:
            _LOGGER.warning("Device %s (%s): %s", self.device_id, self.name, reason)
        else:
            _LOGGER.info("Device %s (%s) is %s", self.device_id, self.name, state)
        self._emit(StatusChanged(self.status))
