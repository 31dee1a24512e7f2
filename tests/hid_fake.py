"""A stand-in for /dev/input on a machine without uinput: FIFOs carrying kernel bytes.

``FakeInput`` keeps a ``by-id`` folder of links to event nodes, like udev does. Each node is a
FIFO: the test writes the ``struct input_event`` bytes a scan gun produces, and the driver reads
them through ``FifoSource``, which behaves like an evdev node at the two points that matter:

- a read when the device has gone fails with ENODEV (the writer closed the FIFO);
- EVIOCGRAB is exclusive: a second grab of a held node fails with EBUSY, and the grab is
  released on ungrab or close. The registry of grabs lives in the ``FakeInput`` (the kernel).
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from drivers.hid_decode import RawEvent, parse_input_events


@dataclass
class FakeInput:
    root: Path
    grabs: dict[str, int] = field(default_factory=dict)       # node -> id of the grabbing source
    grab_log: list[tuple[str, str]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    _writers: dict[str, int] = field(default_factory=dict)
    _next_event: int = 3

    def __post_init__(self) -> None:
        self.by_id = self.root / "by-id"
        self.nodes = self.root / "nodes"
        self.by_id.mkdir(parents=True)
        self.nodes.mkdir()

    def plug(self, link_name: str, device_name: str = "Acme Barcode Scanner") -> str:
        """Create a new event node (a new eventN, as after a real replug) and its by-id link."""
        node = self.nodes / f"event{self._next_event}"
        self._next_event += 1
        os.mkfifo(node)
        # O_RDWR keeps the FIFO open without a reader; the driver's read end sees EOF (the
        # device gone) only when this end closes.
        self._writers[link_name] = os.open(node, os.O_RDWR | os.O_NONBLOCK)
        self.names[str(node)] = device_name
        (self.by_id / link_name).symlink_to(node)
        return str(node)

    def unplug(self, link_name: str) -> None:
        link = self.by_id / link_name
        node = os.path.realpath(link)
        link.unlink()
        os.close(self._writers.pop(link_name))
        os.unlink(node)

    def write(self, link_name: str, data: bytes) -> None:
        fd = self._writers[link_name]
        view = memoryview(data)
        while view:
            written = os.write(fd, view[:4096])
            view = view[written:]

    def opener(self, path: str) -> FifoSource:
        return FifoSource(self, path)

    def close(self) -> None:
        for fd in self._writers.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._writers.clear()


class FifoSource:
    """An ``EventSource`` over a FIFO node of a ``FakeInput``."""

    def __init__(self, fake: FakeInput, path: str) -> None:
        self._fake = fake
        self.path = path
        self.name = fake.names.get(path, "")
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._pending = b""

    def fileno(self) -> int:
        return self._fd

    def read(self) -> list[RawEvent]:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        events, self._pending = parse_input_events(self._pending + data)
        return events

    def grab(self) -> None:
        if self.path in self._fake.grabs:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), self.path)
        self._fake.grabs[self.path] = id(self)
        self._fake.grab_log.append(("grab", self.path))

    def ungrab(self) -> None:
        if self._fake.grabs.get(self.path) == id(self):
            del self._fake.grabs[self.path]
            self._fake.grab_log.append(("ungrab", self.path))

    def close(self) -> None:
        self.ungrab()  # the kernel drops a grab with its file
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
