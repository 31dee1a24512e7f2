"""Where a scan gun's key events come from: evdev nodes, found by their by-id links.

``EventSource`` is the small boundary between the HID scanner driver and the kernel: open a
node, grab it, read what is there without blocking, release it. ``EvdevSource`` is the real one
(python-evdev); tests put a FIFO carrying the kernel's ``struct input_event`` bytes behind the
same interface, since this kind of machine has no ``/dev/uinput`` to make virtual devices.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .hid_decode import RawEvent
from .identity import Candidate

_LOGGER = logging.getLogger(__name__)

DEFAULT_BY_ID = Path("/dev/input/by-id")
# "usb-Honeywell_1900_SN1-if01-event-kbd" -> "usb-Honeywell_1900_SN1": one device, two nodes.
_NODE_SUFFIX = re.compile(r"(-if\d+)?-event-[a-z]+$")


class EventSource(Protocol):
    """One open input event node."""

    path: str
    name: str

    def fileno(self) -> int: ...

    def read(self) -> list[RawEvent]:
        """Return the events available now ([] if none); raise OSError when the node is gone."""
        ...

    def grab(self) -> None:
        """Take the node for ourselves (EVIOCGRAB); raise OSError (EBUSY) if another has it."""
        ...

    def ungrab(self) -> None: ...

    def close(self) -> None: ...


SourceOpener = Callable[[str], EventSource]


class EvdevSource:
    """An evdev input node through python-evdev (non-blocking file descriptor)."""

    def __init__(self, path: str) -> None:
        import evdev  # noqa: PLC0415 - Linux-only C extension, imported where it is used

        self._device: Any = evdev.InputDevice(path)
        self.path = path
        self.name = str(self._device.name)

    def fileno(self) -> int:
        return int(self._device.fd)

    def read(self) -> list[RawEvent]:
        try:
            return [(e.timestamp(), e.type, e.code, e.value) for e in self._device.read()]
        except BlockingIOError:
            return []

    def grab(self) -> None:
        self._device.grab()

    def ungrab(self) -> None:
        self._device.ungrab()

    def close(self) -> None:
        self._device.close()


def input_candidates(folder: Path, *, use_udev: bool = True) -> list[Candidate]:
    """Describe the event nodes linked from ``folder`` (a ``by-id`` folder)."""
    by_node: dict[str, list[str]] = {}
    try:
        entries = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if "-event-" not in entry:
            continue  # legacy mouseN/jsN nodes do not speak evdev
        link = folder / entry
        try:
            node = os.path.realpath(link, strict=True)
        except OSError:
            continue  # a dangling link: the device is leaving
        by_node.setdefault(node, []).append(str(link))
    udev = _udev_context() if use_udev and str(folder).startswith("/dev/") else None
    candidates = []
    for node, links in sorted(by_node.items()):
        device = _NODE_SUFFIX.sub("", links[0].rsplit("/", 1)[-1])
        candidate = Candidate(node=node, device=device, links=tuple(links))
        if udev is not None:
            candidate = _with_udev(udev, candidate)
        candidates.append(candidate)
    return candidates


def _udev_context() -> Any:
    try:
        import pyudev  # noqa: PLC0415

        return pyudev.Context()
    except Exception:  # no udev database here: by-id names are all we know
        return None


def _with_udev(context: Any, candidate: Candidate) -> Candidate:
    """Add serial number, port and USB ids from udev's database."""
    try:
        import pyudev  # noqa: PLC0415

        dev = pyudev.Devices.from_device_file(context, candidate.node)
        props = dev.properties
        usb = dev.find_parent("usb", "usb_device")
        parent_input = dev.find_parent("input")
        return Candidate(
            node=candidate.node,
            device=usb.sys_path if usb is not None else candidate.device,
            links=candidate.links,
            serial=props.get("ID_SERIAL_SHORT"),
            phys=props.get("ID_PATH"),
            vendor_id=_hex(props.get("ID_VENDOR_ID")),
            product_id=_hex(props.get("ID_MODEL_ID")),
            name=str(parent_input.properties.get("NAME", "")).strip('"')
            if parent_input is not None else "",
        )
    except Exception as err:  # udev knows nothing of this node: keep what the link says
        _LOGGER.debug("udev has no record of %s: %s", candidate.node, err)
        return candidate


def _hex(value: str | None) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value or "", 16)
    return None
