"""The drivers the config can name, by name.

An explicit table of name -> "module:Class". A driver's module is imported the first time the
config names it, so `storeedge scan` does not load OpenCV, and a configuration without a camera
runs even where OpenCV is broken.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from .base import Driver

_TABLE = {
    "sim_scanner": "drivers.sim_scanner:SocketScanner",
    "hid": "drivers.hid_scanner:HidScanner",
    "serial_scanner": "drivers.serial_scanner:SerialScanner",
    "scale": "drivers.scale:Scale",
    "sim_scale": "drivers.sim_scale:SimScale",
    "camera": "drivers.camera:Camera",
    "printer": "drivers.printer:ReceiptPrinter",
}


class _Registry(Mapping[str, type[Driver]]):
    """A read-only mapping that imports a driver class when it is first looked up."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = dict(table)

    def __getitem__(self, name: str) -> type[Driver]:
        module, _, attr = self._table[name].partition(":")
        driver: type[Driver] = getattr(importlib.import_module(module), attr)
        return driver

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


DRIVERS: Mapping[str, type[Driver]] = _Registry(_TABLE)
