"""Notice devices coming and going: a folder of device links, watched by udev and by polling.

Hot-plug is the normal path: a cashier pulls a scan gun out and plugs another in mid-shift.
``FolderWatcher`` wakes its owner when the entries of a folder (``/dev/input/by-id``,
``/dev/serial/by-id``) change. It listens to udev (pyudev's netlink monitor) when the folder is
under ``/dev`` and udev is reachable, so a replug is seen at once; it also re-lists the folder
every ``interval`` seconds, which is the whole mechanism where udev is absent (containers, and
tests, which watch a folder in a temporary directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_LOGGER = logging.getLogger(__name__)


def list_folder(folder: Path) -> frozenset[str]:
    """Return the entry names of ``folder``; empty when it does not exist (nothing plugged)."""
    try:
        return frozenset(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()


class FolderWatcher:
    """Wait for changes of a folder's entries; an async context that owns its udev monitor."""

    def __init__(self, folder: Path, interval: float, udev_subsystem: str | None = None) -> None:
        self.folder = folder
        self.interval = interval
        self.udev_subsystem = udev_subsystem
        self._kick = asyncio.Event()
        self._monitor: Any = None
        self.using_udev = False

    async def __aenter__(self) -> Self:
        if self.udev_subsystem and str(self.folder).startswith("/dev/"):
            self._start_udev(self.udev_subsystem)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._monitor.fileno())
            self._monitor = None

    def kick(self) -> None:
        """Wake the waiter now (a read failed: the device is probably gone)."""
        self._kick.set()

    async def wait_change(self, seen: frozenset[str], *, poll: bool = False) -> frozenset[str]:
        """Return the folder's entries once they differ from ``seen``, or on a kick.

        With ``poll``, return after every interval anyway: an owner waiting for a device that
        was unplugged and plugged back between two listings would otherwise never look again.
        """
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # races with the wake-up, and the owner's stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._kick.wait()
            kicked = self._kick.is_set()
            self._kick.clear()
            now = await asyncio.to_thread(list_folder, self.folder)
            if now != seen or kicked or poll:
                return now

    def _start_udev(self, subsystem: str) -> None:
        try:
            import pyudev  # noqa: PLC0415 - optional at run time: polling still works

            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source="udev")
            monitor.filter_by(subsystem)
            monitor.start()
            asyncio.get_running_loop().add_reader(monitor.fileno(), self._on_udev)
        except Exception as err:  # no netlink in a container, no udevd: polling only
            _LOGGER.debug("udev monitor unavailable (%s); polling %s", err, self.folder)
            return
        self._monitor = monitor
        self.using_udev = True

    def _on_udev(self) -> None:
        with contextlib.suppress(Exception):
            while self._monitor is not None and self._monitor.poll(timeout=0) is not None:
                pass
        self._kick.set()
