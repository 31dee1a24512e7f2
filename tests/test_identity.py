"""Stable device identity: by-id link, USB serial, physical port, vendor:product — in order."""

from __future__ import annotations

import pytest

from drivers.base import DeviceConfigError
from drivers.identity import Candidate, Identity, match

HONEYWELL, ZEBRA = (0x0C2E, 0x0B61), (0x05E0, 0x1200)


def node(n: int, device: str, link: str, serial: str, *, phys: str,
         usb: tuple[int, int]) -> Candidate:
    return Candidate(f"/dev/input/event{n}", device, (f"/dev/input/by-id/{link}",), serial,
                     phys, usb[0], usb[1])


# Two identical Honeywell guns on two ports, one with a second interface, and a Zebra.
CANDIDATES = [
    node(3, "dev-a", "usb-Honeywell_1900_SN-A-event-kbd", "SN-A",
         phys="pci-0000:00:14.0-usb-0:1:1.0", usb=HONEYWELL),
    node(4, "dev-a", "usb-Honeywell_1900_SN-A-if01-event-kbd", "SN-A",
         phys="pci-0000:00:14.0-usb-0:1:1.1", usb=HONEYWELL),
    node(7, "dev-b", "usb-Honeywell_1900_SN-B-event-kbd", "SN-B",
         phys="pci-0000:00:14.0-usb-0:2:1.0", usb=HONEYWELL),
    node(9, "dev-z", "usb-Zebra_DS2208_Z1-event-kbd", "Z1", phys="pci-0000:00:14.0-usb-0:12:1.0",
         usb=ZEBRA),
]


def nodes(identity: Identity) -> list[str]:
    return [c.node for c in match(identity, CANDIDATES).nodes]


def test_each_key_finds_every_node_of_one_device() -> None:
    assert nodes(Identity(by_id="usb-Honeywell_1900_SN-A-event-kbd")) == [
        "/dev/input/event3", "/dev/input/event4"]
    assert nodes(Identity(by_id="/dev/input/by-id/usb-Honeywell_1900_SN-B-event-kbd")) == [
        "/dev/input/event7"]
    assert nodes(Identity(serial="SN-B")) == ["/dev/input/event7"]
    assert nodes(Identity(phys="pci-0000:00:14.0-usb-0:1")) == [
        "/dev/input/event3", "/dev/input/event4"]
    assert nodes(Identity(usb=ZEBRA)) == ["/dev/input/event9"]


def test_a_port_prefix_does_not_match_a_longer_port_number() -> None:
    # Port 1 must not catch port 12.
    assert nodes(Identity(phys="pci-0000:00:14.0-usb-0:1")) == [
        "/dev/input/event3", "/dev/input/event4"]
    assert nodes(Identity(phys="pci-0000:00:14.0-usb-0:12")) == ["/dev/input/event9"]


def test_the_highest_preference_key_decides() -> None:
    # by_id names gun B, the serial names gun A: by_id wins.
    assert nodes(Identity(by_id="usb-Honeywell_1900_SN-B-event-kbd", serial="SN-A")) == [
        "/dev/input/event7"]


def test_ambiguous_and_missing_devices_say_why() -> None:
    both = match(Identity(usb=HONEYWELL), CANDIDATES)
    assert both.nodes == () and both.reason == "2 devices match usb=0c2e:0b61; name one by " \
        "serial or phys"
    gone = match(Identity(serial="SN-C"), CANDIDATES)
    assert gone.nodes == () and gone.reason == "no device matches serial=SN-C"


def test_options() -> None:
    assert Identity.from_options({"usb": "0C2E:0b61"}).usb == HONEYWELL
    with pytest.raises(DeviceConfigError, match="vvvv:pppp"):
        Identity.from_options({"usb": "0c2e"})
    with pytest.raises(DeviceConfigError, match="by_id, serial, phys or usb"):
        Identity.from_options({})
    assert not Identity.from_options({}, required=False).given
