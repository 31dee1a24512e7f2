"""Receipt printers against a fake network printer: once-only jobs, crashes, paper and cover."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.base import DeviceConfig, DeviceConfigError, DeviceState, StatusChanged
from drivers.print_journal import PrintJournal
from drivers.printer import PrinterUnavailable, ReceiptPrinter, parse_status
from drivers.receipt import Cut, Receipt, Text, drawer_kick, render
from tests.conftest import hw_option
from tests.devices import next_event, wait_state
from tests.fake_printer import FakePrinter
from tests.helpers import ROOT
from tests.printer_worker import RECEIPT, printer


@pytest.fixture
async def fake() -> AsyncIterator[FakePrinter]:
    device = await FakePrinter().start()
    yield device
    await device.stop()


async def test_a_job_prints_once_however_often_it_is_sent(fake: FakePrinter,
                                                         tmp_path: Path) -> None:
    async with printer(fake.port, tmp_path / "p.jobs.sqlite") as device:
        assert device.status.state is DeviceState.IDLE
        first = await device.print_job("S001-1-42", RECEIPT)
        again = await device.print_job("S001-1-42", RECEIPT)
        other = await device.print_job("S001-1-43", RECEIPT)
    assert (first.outcome, again.outcome, other.outcome) == (
        "printed", "already_printed", "printed")
    assert len(fake.documents) == 2
    assert fake.documents[0] == render(RECEIPT)
    assert "合计".encode("gb18030") in fake.documents[0]
    assert b"\x1dV\x00" in fake.documents[0]          # GS V 0: the full cut


async def test_a_crash_between_sending_and_journaling_never_prints_twice(
        fake: FakePrinter, tmp_path: Path) -> None:
    journal = tmp_path / "p.jobs.sqlite"
    fake.hold_after_data = True
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.printer_worker", str(fake.port), str(journal), "job-7",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await asyncio.wait_for(fake.held.wait(), 30)  # the job is on paper, not yet recorded
        worker.send_signal(signal.SIGKILL)
    finally:
        output = (await worker.communicate())[0].decode()
    assert worker.returncode == -signal.SIGKILL, output
    fake.release()
    assert len(fake.documents) == 1

    async with printer(fake.port, journal) as device:
        assert device.status.detail["in_doubt"] == ["job-7"]
        retry = await device.print_job("job-7", RECEIPT)
        assert retry.outcome == "in_doubt" and "resolve" in retry.message
        assert len(fake.documents) == 1
        await device.resolve("job-7", printed=True)         # the cashier sees the receipt
        assert (await device.print_job("job-7", RECEIPT)).outcome == "already_printed"
        assert device.status.detail["in_doubt"] == []
    assert len(fake.documents) == 1


async def test_an_in_doubt_job_resolved_as_not_printed_prints_again(
        fake: FakePrinter, tmp_path: Path) -> None:
    journal = PrintJournal(tmp_path / "p.jobs.sqlite")
    await asyncio.to_thread(journal.sending, "job-8", "receipt", 100)  # left by a crash
    async with printer(fake.port, journal.path) as device:
        assert (await device.print_job("job-8", RECEIPT)).outcome == "in_doubt"
        await device.resolve("job-8", printed=False)        # nothing came out
        assert (await device.print_job("job-8", RECEIPT)).outcome == "printed"
    assert len(fake.documents) == 1


async def test_paper_out_and_cover_open_are_status_events(fake: FakePrinter,
                                                          tmp_path: Path) -> None:
    config = DeviceConfig("printer-1", "printer", "1", {
        "host": "127.0.0.1", "port": fake.port, "journal": str(tmp_path / "p.jobs.sqlite"),
        "status_interval_ms": 20})
    async with ReceiptPrinter(config) as device:
        fake.paper = "out"
        while True:  # the status events since start, up to the one the console must show
            event = await next_event(device, status=True)
            assert isinstance(event, StatusChanged)
            if event.status.state is DeviceState.ERROR:
                break
        assert event.status.reason == "paper out"
        assert event.status.detail["paper"] == "out"
        refused = await device.print_job("job-9", RECEIPT)
        assert refused.outcome == "failed" and "paper out" in refused.message
        assert fake.documents == []
        fake.paper = "low"
        await wait_state(device, DeviceState.IDLE, "paper low")
        fake.cover_open = True
        await wait_state(device, DeviceState.ERROR, "cover open")
        fake.cover_open = False
        await wait_state(device, DeviceState.IDLE)
        # The job refused for paper never reached the printer: it may be printed now.
        assert (await device.print_job("job-9", RECEIPT)).outcome == "printed"
    assert len(fake.documents) == 1


async def test_paper_running_out_during_a_job_leaves_it_in_doubt(fake: FakePrinter,
                                                                 tmp_path: Path) -> None:
    async with printer(fake.port, tmp_path / "p.jobs.sqlite") as device:
        fake.hold_after_data = True
        job = asyncio.create_task(device.print_job("job-10", RECEIPT))
        await asyncio.wait_for(fake.held.wait(), 10)
        fake.paper = "out"
        fake.release()
        result = await job
        assert result.outcome == "in_doubt" and "paper out" in result.message
        assert device.status.state is DeviceState.ERROR


async def test_the_cash_drawer_opens_once_per_kick_id(fake: FakePrinter, tmp_path: Path) -> None:
    async with printer(fake.port, tmp_path / "p.jobs.sqlite") as device:
        assert (await device.kick_drawer("kick-1")).outcome == "printed"
        assert (await device.kick_drawer("kick-1")).outcome == "already_printed"
    assert fake.documents == [drawer_kick(2)]


async def test_an_unreachable_printer_fails_cleanly_and_the_job_can_be_retried(
        tmp_path: Path) -> None:
    fake = await FakePrinter().start()
    port = fake.port
    await fake.stop()                   # nothing listens on the port now
    async with printer(port, tmp_path / "p.jobs.sqlite") as device:
        assert device.status.state is DeviceState.ERROR
        assert (device.status.reason or "").startswith("unreachable")
        failed = await device.print_job("job-11", RECEIPT)
        assert failed.outcome == "failed"
        assert not (await device.test()).ok
    later = await FakePrinter().start(port)   # the printer is switched on
    try:
        async with printer(port, tmp_path / "p.jobs.sqlite") as device:
            assert (await device.print_job("job-11", RECEIPT)).outcome == "printed"
    finally:
        await later.stop()
    assert len(later.documents) == 1


async def test_a_bad_receipt_is_refused_before_anything_is_sent(fake: FakePrinter,
                                                                tmp_path: Path) -> None:
    async with printer(fake.port, tmp_path / "p.jobs.sqlite") as device:
        result = await device.print_job("job-12", Receipt((Text("bad \x1b@ text"), Cut())))
    assert result.outcome == "refused" and "control characters" in result.message
    assert fake.documents == []


def test_status_bytes() -> None:
    assert parse_status(0x12, 0x12, 0x12).problem is None
    assert parse_status(0x12, 0x12, 0x1E).paper == "low"
    assert parse_status(0x12, 0x32, 0x72).problem == "paper out"
    assert parse_status(0x1A, 0x16, 0x12).problem == "cover open"
    assert parse_status(0x1A, 0x12, 0x12).problem == "offline"
    with pytest.raises(PrinterUnavailable):
        parse_status(0x00, 0x12, 0x12)


@pytest.mark.parametrize(("options", "key"), [
    ({"host": "10.0.0.9"}, "journal"),
    ({"journal": "/tmp/j"}, "host"),
    ({"connection": "usb", "device": "lp0", "journal": "/tmp/j"}, "device"),
    ({"host": "h", "journal": "/tmp/j", "drawer_pin": 3}, "drawer_pin"),
])
def test_bad_options_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(DeviceConfigError) as info:
        ReceiptPrinter.parse_options(options)
    assert info.value.key == key


async def test_hw_printer(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """With --hw-printer=HOST[:PORT]: the real printer reports its status and prints a test."""
    target = hw_option(request.config, "--hw-printer")
    host, _, port = target.partition(":")
    config = DeviceConfig("hw-printer", "printer", None, {
        "host": host, "port": int(port or 9100), "journal": str(tmp_path / "hw.jobs.sqlite")})
    async with ReceiptPrinter(config) as device:
        assert (await device.test()).ok, device.status.reason
        result = await device.print_job("hw-test", Receipt((Text("StoreEdge test 测试"), Cut())))
        assert result.outcome == "printed", result.message
