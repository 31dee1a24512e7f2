"""Serial scales for the bagging area and produce: polled, hot-plugged, integer grams.

The driver polls the scale every ``poll_interval_ms`` with the protocol's weight request and
waits at most ``response_timeout_ms`` for the answer. A ``WeightReading`` is emitted when the
weight or the state changes (stable, motion, zero, over capacity, under zero, error), not for
every poll. A scale that stops answering while its port stays open (powered off behind a
USB-serial adapter) goes to error after ``max_missed`` polls and recovers by itself; a port
that disappears is reopened with backoff (``drivers.serial_link``). Scanner-scales that share
the cable with a scanner (the single-cable protocol) also emit the barcodes they read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import options as opt
from .base import (
    DeviceConfig,
    DeviceState,
    ScaleState,
    ScanRejected,
    TestResult,
    WeightReading,
    validate_scan_text,
)
from .framing import Framer, Overflow
from .scale_protocols import PROTOCOLS, LabelFrame, ProtocolError, ScaleFrame, ScaleProtocol
from .serial_link import SERIAL_KEYS, SerialDriver, SerialSettings

_LOGGER = logging.getLogger(__name__)
SCALE_KEYS = frozenset({*SERIAL_KEYS, "protocol", "unit", "poll_interval_ms",
                        "response_timeout_ms", "max_missed"})


@dataclass(frozen=True, slots=True)
class ScaleOptions:
    serial: SerialSettings
    protocol: str
    unit: str
    poll_interval: float
    response_timeout: float
    max_missed: int


def parse_scale_options(options: Mapping[str, Any], allowed: frozenset[str]) -> ScaleOptions:
    opt.only(options, allowed)
    return ScaleOptions(
        # Both protocols default to 7 data bits, even parity, as the scales ship.
        serial=SerialSettings.from_options(options, baudrate=9600, bytesize=7, parity="even"),
        protocol=opt.choice(options, "protocol", "toledo8217", sorted(PROTOCOLS)),
        unit=opt.choice(options, "unit", "kg", ("kg", "lb")),
        poll_interval=opt.seconds(options, "poll_interval_ms", 200, 10, 60_000),
        response_timeout=opt.seconds(options, "response_timeout_ms", 1000, 10, 60_000),
        max_missed=opt.integer(options, "max_missed", 3, 1, 1000),
    )


class Scale(SerialDriver):
    """A scale (or scanner-scale) on a serial port."""

    name = "scale"

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.options = self.parse_options(config.options)
        self.settings = self.options.serial
        self.protocol: ScaleProtocol = PROTOCOLS[self.options.protocol](self.options.unit)
        self._framer = Framer(self.protocol.framing, 256)
        self._answers: asyncio.Queue[ScaleFrame] = asyncio.Queue(16)
        self._last: tuple[int, ScaleState] | None = None
        self._last_answer_at: float | None = None
        self._no_answer = False

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> ScaleOptions:
        return parse_scale_options(options, SCALE_KEYS)

    def _on_data(self, data: bytes) -> None:
        for item in self._framer.feed(data):
            if isinstance(item, Overflow):
                _LOGGER.debug("Device %s: %s", self.device_id, item.reason)
                continue
            try:
                frame = self.protocol.parse(item)
            except ProtocolError as err:
                _LOGGER.debug("Device %s: %s", self.device_id, err)
                self._detail["last_error"] = str(err)
                continue
            if isinstance(frame, LabelFrame):
                self._emit(validate_scan_text(self.device_id, frame.text,
                                              raw=frame.text.encode(), symbology=frame.symbology))
            elif self._answers.full():
                continue  # nobody asked: an answer we no longer wait for
            else:
                self._answers.put_nowait(frame)

    def _on_connected(self) -> None:
        self._last = None  # after a reconnect, report the weight again

    def _on_disconnected(self) -> None:
        if self._framer.reset() and self.protocol.name == "sci":
            self._emit(ScanRejected(self.device_id, "disconnected mid-message; discarded"))

    async def _session(self) -> None:
        missed = 0
        request = self.protocol.weight_request()
        while True:
            while not self._answers.empty():
                self._answers.get_nowait()  # stale answers belong to earlier requests
            if not self._send(request):
                return
            try:
                # Not wait_for: on Python 3.11 it can swallow a cancel racing with an answer.
                async with asyncio.timeout(self.options.response_timeout):
                    frame = await self._answers.get()
            except TimeoutError:
                missed += 1
                if missed >= self.options.max_missed:
                    self._no_answer = True
                    self._set_state(DeviceState.ERROR, f"no answer to {missed} weight requests; "
                                    f"check the scale is on and set to {self.protocol.name}")
            else:
                missed = 0
                self._reading(frame)
            await asyncio.sleep(self.options.poll_interval)

    def _reading(self, frame: ScaleFrame) -> None:
        self._last_answer_at = self._last_seen = time.time()
        if self._no_answer:
            self._no_answer = False
            self._set_state(DeviceState.IDLE)
        if frame.detail:
            self._detail["scale_detail"] = frame.detail
        else:
            self._detail.pop("scale_detail", None)
        if self._last != (frame.grams, frame.state):
            self._last = (frame.grams, frame.state)
            self._emit(WeightReading(self.device_id, frame.grams, frame.state))

    async def zero(self) -> bool:
        """Ask the scale to zero itself; False when the protocol cannot or the link is down."""
        if not self.protocol.zero_supported:
            return False
        return self._send(self.protocol.zero_request())

    async def test(self) -> TestResult:
        status = self.status
        if not self.connected:
            return TestResult(False, status.reason or "not connected", dict(status.detail))
        if self._last_answer_at is None or self._last is None:
            return TestResult(False, f"connected on {status.detail.get('port')}, but the scale "
                              "has not answered yet", dict(status.detail))
        grams, state = self._last
        age = time.time() - self._last_answer_at
        return TestResult(status.state is DeviceState.IDLE,
                          f"answering ({self.protocol.name}): {grams} g, {state}; last answer "
                          f"{age:.1f} s ago", dict(status.detail))
