"""Find a configured device among the connected ones by a stable identity.

Kernel names (``/dev/input/event5``, ``/dev/ttyACM0``) change when a device is unplugged and
plugged again, or when another device comes first after a reboot. A device in the config is
therefore named by what stays the same, in this order of preference:

1. ``by_id``: its udev ``by-id`` link (``usb-Honeywell_1900_18123B0057-event-kbd``, or the full
   ``/dev/input/by-id/...``/``/dev/serial/by-id/...`` path), made from vendor, model and serial;
2. ``serial``: the USB serial number, for two identical devices;
3. ``phys``: the physical port (``pci-0000:00:14.0-usb-0:2``): "whatever is plugged in here";
4. ``usb``: ``"vvvv:pppp"`` vendor and product id, when only one such device is attached.

The highest-preference key given decides. Matching is a pure function over candidate
descriptions; collecting them (udev, folders, serial port lists) is the drivers' business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import DeviceConfigError

IDENTITY_KEYS = ("by_id", "serial", "phys", "usb")
_USB_ID = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")


@dataclass(frozen=True, slots=True)
class Identity:
    by_id: str | None = None
    serial: str | None = None
    phys: str | None = None
    usb: tuple[int, int] | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, required: bool = True) -> Identity:
        """Read the identity keys of a device's options; raise ``DeviceConfigError``."""
        values: dict[str, str] = {}
        for key in IDENTITY_KEYS:
            value = options.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not value or len(value) > 255:
                raise DeviceConfigError(key, "must be a non-empty string")
            values[key] = value
        usb = None
        if "usb" in values:
            found = _USB_ID.match(values["usb"])
            if found is None:
                raise DeviceConfigError("usb", 'must be "vvvv:pppp" (hex vendor:product id, '
                                        "as lsusb shows it)")
            usb = (int(found.group(1), 16), int(found.group(2), 16))
        if required and not values:
            raise DeviceConfigError("by_id", "name the device by one of by_id, serial, phys or "
                                    "usb (see `ls -l /dev/input/by-id /dev/serial/by-id`)")
        return cls(values.get("by_id"), values.get("serial"), values.get("phys"), usb)

    @property
    def given(self) -> bool:
        return any((self.by_id, self.serial, self.phys, self.usb))

    def describe(self) -> str:
        if self.by_id:
            return f"by_id={self.by_id}"
        if self.serial:
            return f"serial={self.serial}"
        if self.phys:
            return f"phys={self.phys}"
        if self.usb:
            return f"usb={self.usb[0]:04x}:{self.usb[1]:04x}"
        return "no identity"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One device node that is present now, with what is known about its device."""

    node: str                      # what to open: /dev/input/event5, /dev/ttyACM0
    device: str                    # the same for every node of one physical device
    links: tuple[str, ...] = ()    # by-id links (full paths) pointing at the node
    serial: str | None = None
    phys: str | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """The nodes of the one device that matched, or none and why."""

    nodes: tuple[Candidate, ...]
    reason: str = ""


def _link_matches(spec: str, link: str) -> bool:
    return link == spec or link.rsplit("/", 1)[-1] == spec


def _phys_matches(spec: str, phys: str | None) -> bool:
    # A port path names the port; interfaces and inputs below it ("...:1.0", "/input0") vary.
    return phys is not None and (phys == spec or phys.startswith((spec + ":", spec + "/",
                                                                 spec + ".", spec + "-")))


def match(identity: Identity, candidates: Sequence[Candidate]) -> Match:
    """Return every node of the one device ``identity`` names among ``candidates``."""
    spec = identity.describe()
    if identity.by_id:
        by_id = identity.by_id
        hits = [c for c in candidates if any(_link_matches(by_id, link) for link in c.links)]
    elif identity.serial:
        hits = [c for c in candidates if c.serial == identity.serial]
    elif identity.phys:
        phys = identity.phys
        hits = [c for c in candidates if _phys_matches(phys, c.phys)]
    elif identity.usb:
        hits = [c for c in candidates if (c.vendor_id, c.product_id) == identity.usb]
    else:
        return Match((), "no identity configured")
    devices = sorted({c.device for c in hits})
    if not devices:
        return Match((), f"no device matches {spec}")
    if len(devices) > 1:
        return Match((), f"{len(devices)} devices match {spec}; name one by serial or phys")
    nodes = tuple(sorted((c for c in candidates if c.device == devices[0]),
                         key=lambda c: c.node))
    return Match(nodes)
