"""Serial ports for tests: a pty pair per plug, behind a stable link like /dev/serial/by-id.

The test holds the device end (the pty master) and writes what a scanner or scale would send;
the driver opens the link, which points at the pty's slave. ``unplug`` closes the device end:
the driver's reads then fail as on a USB-serial adapter pulled out, and the link goes away.
``plug`` again makes a new pty (a new /dev/pts number, as a replug gives a new ttyACM number).
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path


class PtyPort:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self._slave = -1

    @property
    def plugged(self) -> bool:
        return self.master >= 0

    def plug(self) -> str:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        name = os.ttyname(self._slave)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(name)
        return name

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view[:1024]):]

    def read(self) -> bytes:
        """Return what the driver sent to the device (b"" when nothing)."""
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1

    def close(self) -> None:
        if self.plugged:
            self.unplug()
