"""Serial scanners over pty pairs and a socket:// serial server: framing, bad bytes, replug."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DeviceConfig, DeviceConfigError, DeviceState, ScanData, ScanRejected
from drivers.serial_scanner import SerialScanner
from drivers.stream_server import StreamServer
from tests.conftest import hw_option
from tests.devices import next_event, next_events, wait_state
from tests.serial_fake import PtyPort


@pytest.fixture
def port(tmp_path: Path) -> Iterator[PtyPort]:
    pty = PtyPort(tmp_path / "serial" / "by-id" / "usb-Acme_Serial_Scanner_S1-if00")
    pty.plug()
    yield pty
    pty.close()


def scanner(port: str | Path, **options: Any) -> SerialScanner:
    return SerialScanner(DeviceConfig("ser-1", "serial_scanner", "1", {
        "port": str(port), "reconnect_min_ms": 20, "reconnect_max_ms": 100, **options}))


def outcome(event: object) -> str:
    if isinstance(event, ScanData):
        return event.text if event.symbology is None else f"{event.symbology} {event.text}"
    if isinstance(event, ScanRejected):
        return f"REJECTED: {event.reason}"
    raise AssertionError(event)


@pytest.mark.parametrize(("framing", "frames"), [
    ("cr", b"6901234500011\rMC10000001\r"),
    ("lf", b"6901234500011\nMC10000001\n"),
    ("crlf", b"6901234500011\r\nMC10000001\r\n"),
    ("stx_etx", b"\x026901234500011\x03\x02MC10000001\x03"),
    ("stx_cr", b"\x026901234500011\r\x02MC10000001\r"),
])
async def test_each_framing_even_when_frames_arrive_in_pieces(
        port: PtyPort, framing: str, frames: bytes) -> None:
    async with scanner(port.link, framing=framing) as driver:
        assert driver.status.state is DeviceState.IDLE
        for i in range(0, len(frames), 5):
            port.write(frames[i:i + 5])
            await asyncio.sleep(0.005)
        events = await next_events(driver, 2)
        assert [outcome(e) for e in events] == ["6901234500011", "MC10000001"]


async def test_bad_bytes_are_rejected_and_the_scanner_keeps_reading(port: PtyPort) -> None:
    async with scanner(port.link) as driver:
        port.write(b"\xff\xfe\xfd\r")                     # line noise
        port.write(b"6901\x07234\r")                     # a control character
        port.write(b"9" * 300 + b"\r")                   # over 256 characters
        port.write(b"x" * 5000 + b"\r")                  # a line that never seems to end
        port.write(b"]E06901234500011\r")                 # with an AIM identifier
        events = await next_events(driver, 5)
        assert [outcome(e) for e in events] == [
            "REJECTED: not valid UTF-8 at byte 0",
            "REJECTED: control character 0x07 in scan",
            "REJECTED: longer than 256 characters",
            "REJECTED: longer than 1024 bytes",
            "]E0 6901234500011",
        ]
        assert driver.status.state is DeviceState.IDLE


async def test_stx_etx_noise_between_frames_is_reported(port: PtyPort) -> None:
    async with scanner(port.link, framing="stx_etx") as driver:
        port.write(b"\x00\x00junk\x026901234500011\x03")
        events = await next_events(driver, 2)
        assert [outcome(e) for e in events] == ["REJECTED: 6 byte(s) outside a frame",
                                                "6901234500011"]


async def test_unplug_mid_scan_then_replug_reconnects(port: PtyPort) -> None:
    async with scanner(port.link) as driver:
        port.write(b"6901")
        await asyncio.sleep(0.05)
        port.unplug()
        lost = await next_event(driver)
        assert outcome(lost) == "REJECTED: disconnected mid-scan; partial scan discarded"
        assert isinstance(lost, ScanRejected) and lost.raw == b"6901"
        await wait_state(driver, DeviceState.ERROR, "cannot open")
        assert "retrying in" in (driver.status.reason or "")
        port.plug()
        await wait_state(driver, DeviceState.IDLE)
        port.write(b"6901234500011\r")
        assert outcome(await next_event(driver)) == "6901234500011"


async def test_a_missing_port_is_an_error_and_is_retried(tmp_path: Path) -> None:
    link = tmp_path / "serial" / "by-id" / "usb-Late_Scanner-if00"
    async with scanner(link) as driver:
        assert driver.status.state is DeviceState.ERROR
        assert f"cannot open {link}" in (driver.status.reason or "")
        assert not (await driver.test()).ok
        late = PtyPort(link)
        late.plug()
        try:
            await wait_state(driver, DeviceState.IDLE)
            late.write(b"4006381333931\r")
            assert outcome(await next_event(driver)) == "4006381333931"
        finally:
            late.close()


@pytest.fixture
async def serial_server() -> AsyncIterator[tuple[str, asyncio.Queue[asyncio.StreamWriter]]]:
    """A serial device server (like ser2net) on 127.0.0.1: each connection is the scanner."""
    clients: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await clients.put(writer)

    server = StreamServer(serve, name="ser2net")
    port = await server.start_tcp("127.0.0.1", 0)
    yield f"socket://127.0.0.1:{port}", clients
    await server.close()


async def test_socket_url_and_reconnect_after_the_server_drops(
        serial_server: tuple[str, asyncio.Queue[asyncio.StreamWriter]]) -> None:
    url, clients = serial_server
    async with scanner(url) as driver:
        first = await asyncio.wait_for(clients.get(), 10)
        first.write(b"6901234500011\r")
        assert outcome(await next_event(driver)) == "6901234500011"
        first.close()
        await first.wait_closed()
        second = await asyncio.wait_for(clients.get(), 10)
        await wait_state(driver, DeviceState.IDLE)
        second.write(b"MC10000001\r")
        assert outcome(await next_event(driver)) == "MC10000001"
        second.close()
        await second.wait_closed()


@pytest.mark.parametrize(("options", "key"), [
    ({}, "port"),
    ({"port": "loop://"}, "port"),
    ({"port": "/dev/ttyS0", "baudrate": 9601}, "baudrate"),
    ({"port": "/dev/ttyS0", "framing": "etx"}, "framing"),
    ({"port": "/dev/ttyS0", "parity": "mark"}, "parity"),
    ({"port": "/dev/ttyS0", "reconnect_min_ms": 5000, "reconnect_max_ms": 100},
     "reconnect_max_ms"),
])
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(DeviceConfigError) as info:
        SerialScanner.parse_options(options)
    assert info.value.key == key


async def test_hw_serial(request: pytest.FixtureRequest) -> None:
    """With --hw-serial=URL: read one scan from a real serial scanner (CR framing)."""
    url = hw_option(request.config, "--hw-serial")
    async with scanner(url) as driver:
        assert driver.status.state is DeviceState.IDLE, driver.status.reason
        print(f"\nScan any barcode with the scanner on {url} within 30 s")
        event = await next_event(driver, within=30)
        assert isinstance(event, ScanData), event
