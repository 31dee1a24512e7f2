"""Serial barcode scanners (RS-232, USB CDC-ACM, serial servers) through pyserial-asyncio.

Each frame the scanner sends (framing from the config: CR, LF, CRLF, STX/ETX or STX/CR) is one
scan. Frames are hostile until checked: invalid UTF-8, control characters and frames over the
length limit become ``ScanRejected`` with the reason, and the driver keeps reading. AIM
symbology identifiers at the start of a frame become the scan's ``symbology``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import options as opt
from .base import MAX_SCAN_LENGTH, DeviceConfig, ScanData, ScanRejected, validate_scan_bytes
from .framing import FRAMINGS, Framer, Overflow
from .serial_link import SERIAL_KEYS, SerialDriver, SerialSettings

_AIM = re.compile(rb"^\][A-Za-z][0-9A-Za-z]")


@dataclass(frozen=True, slots=True)
class SerialScannerOptions:
    serial: SerialSettings
    framing: str
    aim: bool
    max_length: int


def scan_from_frame(device_id: str, frame: bytes, *, aim: bool,
                    max_length: int) -> ScanData | ScanRejected:
    """Turn one frame into a scan or a rejection (AIM prefix split off as the symbology)."""
    symbology = None
    if aim and _AIM.match(frame):
        symbology, frame = frame[:3].decode("ascii"), frame[3:]
    return validate_scan_bytes(device_id, frame, symbology=symbology, max_length=max_length)


class SerialScanner(SerialDriver):
    """A scanner that sends each scan as one framed line."""

    name = "serial_scanner"

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.options = self.parse_options(config.options)
        self.settings = self.options.serial
        self._framer = Framer(self.options.framing, self.options.max_length * 4)

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> SerialScannerOptions:
        opt.only(options, {*SERIAL_KEYS, "framing", "aim", "max_length"})
        return SerialScannerOptions(
            serial=SerialSettings.from_options(options),
            framing=opt.choice(options, "framing", "cr", FRAMINGS),
            aim=opt.boolean(options, "aim", True),
            max_length=opt.integer(options, "max_length", MAX_SCAN_LENGTH, 1, 4096),
        )

    def _on_data(self, data: bytes) -> None:
        for item in self._framer.feed(data):
            if isinstance(item, Overflow):
                self._emit(ScanRejected(self.device_id, item.reason, item.raw))
            else:
                self._emit(scan_from_frame(self.device_id, item, aim=self.options.aim,
                                           max_length=self.options.max_length))

    def _on_disconnected(self) -> None:
        pending = self._framer.reset()
        if pending:
            self._emit(ScanRejected(self.device_id, "disconnected mid-scan; partial scan "
                                    "discarded", pending[:1024]))
