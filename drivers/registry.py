"""The drivers the config can name, by name."""

from __future__ import annotations

from .base import Driver
from .sim_scanner import SocketScanner

DRIVERS: dict[str, type[Driver]] = {
    "sim_scanner": SocketScanner,
}
