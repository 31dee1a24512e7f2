"""The scan-gun driver over FIFO event nodes: grab, hot-plug, several nodes, calibration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DeviceConfig, DeviceConfigError, DeviceState, ScanData, ScanRejected
from drivers.hid_scanner import HidScanner, looks_like_scanner
from drivers.hid_source import EvdevSource
from drivers.keymaps import CALIBRATION_TEXT
from tests.conftest import hw_option
from tests.devices import next_event, next_events, wait_for, wait_state
from tests.hid_fake import FakeInput
from tests.hid_recordings import DATA, Recorder

GUN = "usb-Acme_Barcode_Scanner_SN0042-event-kbd"
GUN_IF1 = "usb-Acme_Barcode_Scanner_SN0042-if01-event-kbd"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeInput]:
    fake = FakeInput(tmp_path / "input")
    yield fake
    fake.close()


def gun(fake: FakeInput, device_id: str = "gun-1", **options: Any) -> HidScanner:
    config = DeviceConfig(device_id, "hid", "1", {
        "by_id": GUN, "by_id_dir": str(fake.by_id), "rescan_interval_ms": 20, **options})
    return HidScanner(config, opener=fake.opener)


def scan_bytes(*texts: str, layout: str = "us") -> bytes:
    r = Recorder()
    for text in texts:
        r.scan(text, layout)
        r.pause(0.3)
    return r.bytes()


async def test_scans_come_from_a_grabbed_device_and_the_grab_is_released(
        fake: FakeInput) -> None:
    node = fake.plug(GUN)
    async with gun(fake) as driver:
        assert driver.status.state is DeviceState.IDLE
        assert fake.grabs == {node: fake.grabs[node]}
        fake.write(GUN, (DATA / "us_two_scans.bin").read_bytes())
        events = await next_events(driver, 2)
        assert [(type(e), getattr(e, "text", None)) for e in events] == [
            (ScanData, "6901234500011"), (ScanData, "MC10000001")]
        assert driver.status.detail["last_scan"]["text"] == "MC****0001"
        result = await driver.test()
        assert result.ok and "grabbed" in result.message
    assert fake.grabs == {}
    assert fake.grab_log == [("grab", node), ("ungrab", node)]
    closed = driver.status
    assert closed.state is DeviceState.CLOSED


async def test_unplug_mid_scan_discards_it_and_a_replug_is_grabbed_again(
        fake: FakeInput) -> None:
    first = fake.plug(GUN)
    async with gun(fake, inter_key_timeout_ms=5000) as driver:
        r = Recorder()
        r.type("69012")
        fake.write(GUN, r.bytes())
        await wait_for(lambda: driver._decoder.in_progress, "the half scan to be read")
        fake.unplug(GUN)
        lost = await next_event(driver)
        assert isinstance(lost, ScanRejected)
        assert lost.reason == "unplugged mid-scan; partial scan discarded"
        assert lost.raw == b"69012"
        await wait_state(driver, DeviceState.ERROR, "unplugged, waiting")
        assert fake.grabs == {}

        second = fake.plug(GUN)  # the kernel gives it another event number
        assert second != first
        await wait_state(driver, DeviceState.IDLE)
        assert list(fake.grabs) == [second]
        fake.write(GUN, scan_bytes("6901234500011"))
        event = await next_event(driver)
        assert isinstance(event, ScanData) and event.text == "6901234500011"
    assert fake.grab_log == [("grab", first), ("ungrab", first), ("grab", second),
                             ("ungrab", second)]


async def test_a_device_absent_at_start_is_waited_for(fake: FakeInput) -> None:
    async with gun(fake) as driver:
        assert driver.status.state is DeviceState.ERROR
        assert driver.status.reason == f"no device matches by_id={GUN}; waiting"
        assert not (await driver.test()).ok
        fake.plug(GUN)
        await wait_state(driver, DeviceState.IDLE)
        fake.write(GUN, scan_bytes("4006381333931"))
        event = await next_event(driver)
        assert isinstance(event, ScanData) and event.text == "4006381333931"


async def test_every_event_node_of_one_device_is_read_and_grabbed(fake: FakeInput) -> None:
    kbd = fake.plug(GUN)
    keypad = fake.plug(GUN_IF1)
    fake.plug("usb-Other_Keyboard-event-kbd")
    async with gun(fake) as driver:
        assert sorted(fake.grabs) == sorted([kbd, keypad])
        fake.write(GUN, scan_bytes("111"))
        assert getattr(await next_event(driver), "text", None) == "111"
        fake.write(GUN_IF1, scan_bytes("222"))
        assert getattr(await next_event(driver), "text", None) == "222"
        fake.write("usb-Other_Keyboard-event-kbd", scan_bytes("333"))
        fake.write(GUN, scan_bytes("444"))
        assert getattr(await next_event(driver), "text", None) == "444"
    assert fake.grabs == {}


async def test_a_node_grabbed_by_another_program_is_an_error_until_released(
        fake: FakeInput) -> None:
    fake.plug(GUN)
    async with gun(fake, "gun-a") as first, gun(fake, "gun-b") as second:
        assert first.status.state is DeviceState.IDLE
        assert second.status.state is DeviceState.ERROR
        assert "grabbed by another program (EBUSY)" in (second.status.reason or "")
        await first.stop()
        await wait_state(second, DeviceState.IDLE)
        fake.write(GUN, scan_bytes("555"))
        assert getattr(await next_event(second), "text", None) == "555"


async def test_a_half_scan_left_alone_is_discarded_by_the_timer(fake: FakeInput) -> None:
    fake.plug(GUN)
    async with gun(fake, inter_key_timeout_ms=30) as driver:
        r = Recorder()
        r.type("4006")
        fake.write(GUN, r.bytes())
        event = await next_event(driver)
        assert isinstance(event, ScanRejected) and event.raw == b"4006"
        assert event.reason.startswith("incomplete scan")
        fake.write(GUN, scan_bytes("6901234500011"))
        assert getattr(await next_event(driver), "text", None) == "6901234500011"


async def test_the_calibration_barcode_sets_the_layout_in_auto_mode(fake: FakeInput) -> None:
    fake.plug(GUN)
    async with gun(fake, layout="auto") as driver:
        assert driver.status.detail["layout"] == "us"
        fake.write(GUN, scan_bytes(CALIBRATION_TEXT, "Yz-1", layout="de"))
        event = await next_event(driver)
        assert isinstance(event, ScanData) and event.text == "Yz-1"
        assert driver.status.detail["layout"] == "de"
        assert driver.status.detail["layout_source"] == "calibration"


async def test_a_fixed_layout_is_not_changed_but_the_mismatch_is_shown(fake: FakeInput) -> None:
    fake.plug(GUN)
    async with gun(fake, layout="us") as driver:
        fake.write(GUN, scan_bytes(CALIBRATION_TEXT, "yz", layout="fr"))
        event = await next_event(driver)
        assert isinstance(event, ScanData) and event.text == "yw"
        assert driver.status.detail["calibration"] == "types in fr, config says us"


def test_scanner_names() -> None:
    for name in ("Honeywell Imaging & Mobility 1900", "Symbol Technologies, Inc, 2008 "
                 "Symbol Bar Code Scanner", "Newland Auto-ID NLS-HR22", "USB Barcode Scanner"):
        assert looks_like_scanner(name), name
    for name in ("Dell KB216 Wired Keyboard", "Logitech USB Receiver", "AT Translated Set 2 "
                 "keyboard"):
        assert not looks_like_scanner(name), name


@pytest.mark.parametrize(("options", "key"), [
    ({}, "by_id"),
    ({"by_id": GUN, "layout": "dvorak"}, "layout"),
    ({"by_id": GUN, "terminators": ["enter", "space"]}, "terminators"),
    ({"by_id": GUN, "inter_key_timeout_ms": 0}, "inter_key_timeout_ms"),
    ({"usb": "0c2e-0b61"}, "usb"),
    ({"by_id": GUN, "grab_device": True}, "grab_device"),
])
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(DeviceConfigError) as info:
        HidScanner.parse_options(options)
    assert info.value.key == key


async def test_hw_scanner(request: pytest.FixtureRequest) -> None:
    """With --hw-scanner=/dev/input/by-id/...: grab the real gun and read one scan from it."""
    path = hw_option(request.config, "--hw-scanner")
    folder, name = os.path.split(path)
    config = DeviceConfig("hw-gun", "hid", None, {"by_id": name, "by_id_dir": folder})
    async with HidScanner(config, opener=EvdevSource) as driver:
        assert driver.status.state is DeviceState.IDLE, driver.status.reason
        print(f"\nScan any barcode with {path} within 30 s")
        event = await next_event(driver, within=30)
        assert isinstance(event, ScanData), event
