"""Receipts on a fake network printer (ESC/POS status bytes on 127.0.0.1): printed after the
sale commits, the drawer opened once for cash, paper out shown and reprinted, and a retry
after a crash never gives a second copy."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.receipt import drawer_kick
from edge.ereceipt import verify_url
from tests.checkout_support import TEMPLATE, Recorder, config_path, running, scan
from tests.fake_printer import FakePrinter
from tests.helpers import CHIPS, WATER, Daemon, staff_lane

TOTAL = "合计 Total".encode("gb18030")


@pytest.fixture
async def printer() -> AsyncIterator[FakePrinter]:
    fake = await FakePrinter().start()
    yield fake
    await fake.stop()


def receipts(fake: FakePrinter) -> list[bytes]:
    return [d for d in fake.documents if TOTAL in d]


async def test_a_cash_sale_opens_the_drawer_once_and_prints_the_receipt(
        tmp_path: Path, printer: FakePrinter) -> None:
    async with running(config_path(tmp_path, printer_port=printer.port)) as app:
        await staff_lane(app, "2")  # a staffed lane sells once a cashier is in
        recorder = Recorder(app, "2")
        await scan(app, WATER, lane="2")
        await scan(app, CHIPS, lane="2")
        sale = await app.lanes["2"].pay_cash(2000)
        completed = await recorder.wait("sale_completed")
        qr = completed.data["receipt_qr"]
        key = app.config.checkout.ereceipt_key_file.read_bytes()
        assert verify_url(TEMPLATE, key, qr) is not None
        assert f"a={sale.total_fen}" in qr and sale.sale_id in qr
        await recorder.wait("receipt_printed")
        last = recorder.snapshot()["last_sale"]
        assert (last["printed"], last["print_error"], last["receipt_qr"]) == (True, None, qr)
        [document] = receipts(printer)
        assert qr.encode() in document and "农夫山泉".encode("gb18030") in document
        assert [d for d in printer.documents if d == drawer_kick(2)] == [drawer_kick(2)]
        state = await app.checkout.desk.state(sale.sale_id)
        assert state is not None and state["state"] == "printed"


async def test_a_kiosk_sale_prints_but_opens_no_drawer(tmp_path: Path,
                                                       printer: FakePrinter) -> None:
    path = config_path(tmp_path, printer_port=printer.port, printer_lane="1")
    async with running(path) as app:
        recorder = Recorder(app, "1")
        await scan(app, WATER)
        await app.lanes["1"].pay_cash(200)
        await recorder.wait("receipt_printed")
        assert len(receipts(printer)) == 1 and drawer_kick(2) not in printer.documents


async def test_paper_out_is_shown_the_sale_stands_and_a_reprint_prints(
        tmp_path: Path, printer: FakePrinter) -> None:
    printer.paper = "out"
    async with running(config_path(tmp_path, printer_port=printer.port)) as app:
        await staff_lane(app, "2")  # a staffed lane sells once a cashier is in
        recorder = Recorder(app, "2")
        lane = app.lanes["2"]
        await scan(app, WATER, lane="2")
        sale = await lane.pay_cash(500)
        failed = await recorder.wait("receipt_print_failed")
        assert "paper out" in failed.data["error"] and failed.data["zh"].startswith("小票打印失败")
        assert lane.snapshot()["last_sale"]["printed"] is False
        assert "paper out" in lane.snapshot()["last_sale"]["print_error"]
        assert await app.store.fetchone("SELECT 1 FROM sales WHERE id = ?", (sale.sale_id,))
        assert receipts(printer) == []

        printer.paper = "ok"                                  # new roll
        again = await lane.reprint(sale.sale_id, "wang.cashier")
        assert again.code == "receipt_printed"
        assert lane.snapshot()["last_sale"]["printed"] is True
        [first] = receipts(printer)
        assert b"REPRINT" not in first                        # the first copy on paper
        copy = await app.checkout.reprint(sale.sale_id, "admin")
        assert copy["printed"] and len(receipts(printer)) == 2
        assert b"REPRINT" in receipts(printer)[1]
        rows = await app.store.fetchall("SELECT actor FROM audit_log WHERE action ="
                                        " 'receipt.reprinted' ORDER BY id")
        assert [r["actor"] for r in rows] == ["wang.cashier", "admin"]


async def test_a_lane_without_a_printer_says_so(tmp_path: Path) -> None:
    async with running(config_path(tmp_path)) as app:
        await staff_lane(app, "2")  # a staffed lane sells once a cashier is in
        recorder = Recorder(app, "2")
        await scan(app, WATER, lane="2")
        await app.lanes["2"].pay_cash(500)
        failed = await recorder.wait("receipt_print_failed")
        assert failed.data["outcome"] == "no_printer"


async def test_a_receipt_cut_short_by_a_crash_is_never_printed_twice(
        tmp_path: Path, printer: FakePrinter) -> None:
    printer.hold_after_data = True
    path = config_path(tmp_path, printer_port=printer.port, printer_lane="1")
    daemon = await asyncio.to_thread(Daemon(path, tmp_path / "state").start)
    try:
        await asyncio.to_thread(daemon.cli, "scan", WATER, "--lane", "1")
        status, sale = await asyncio.to_thread(daemon.post, "/api/lanes/1/cash",
                                               {"tendered_fen": 200})
        assert status == 200
        await asyncio.wait_for(printer.held.wait(), 30)  # on paper, not yet recorded
    finally:
        assert await asyncio.to_thread(daemon.signal, signal.SIGKILL) == -signal.SIGKILL
    printer.release()
    assert len(receipts(printer)) == 1

    daemon = await asyncio.to_thread(Daemon(path, tmp_path / "state").start)
    try:
        status, retry = await asyncio.to_thread(daemon.post, "/api/lanes/1/reprint",
                                                {"sale_id": sale["sale_id"]})
        assert status == 200 and not retry["printed"]
        assert retry["data"]["outcome"] == "in_doubt" and "resolve" in retry["data"]["error"]
        assert len(receipts(printer)) == 1
    finally:
        await asyncio.to_thread(daemon.signal, signal.SIGTERM)
