"""Interventions, receipts and exits as a fleet's monitoring scrapes them from ``/metrics``."""

from __future__ import annotations

from pathlib import Path

from tests.checkout_support import PIN, Recorder, config_path, running, scan, scrape, staff
from tests.fake_printer import FakePrinter
from tests.helpers import BEER, WATER


async def test_interventions_and_receipts_are_counted_and_a_locked_lane_shows(
        tmp_path: Path) -> None:
    printer = await FakePrinter().start()
    try:
        path = config_path(tmp_path, printer_port=printer.port, printer_lane="1")
        async with running(path) as app:
            assert app.http_url is not None
            badges = await staff(app)
            recorder = Recorder(app, "1")
            await scan(app, BEER)                          # age check: the kiosk locks
            locked = await scrape(app.http_url)
            assert locked[("storeedge_lane_locked", (("lane", "1"),))] == 1.0
            assert locked[("storeedge_interventions_total",
                           (("lane", "1"), ("reason", "age_restricted")))] == 1.0
            await scan(app, f"BADGE:{badges['supervisor']}")
            await app.lanes["1"].call_attendant("help")
            await app.lanes["1"].clear_intervention(PIN, "pin")
            await scan(app, WATER)
            await app.lanes["1"].pay_cash(10_000)
            await recorder.wait("receipt_printed")
            figures = await scrape(app.http_url)
    finally:
        await printer.stop()
    assert figures[("storeedge_lane_locked", (("lane", "1"),))] == 0.0
    assert figures[("storeedge_interventions_cleared_total",
                    (("lane", "1"), ("method", "badge"), ("reason", "age_restricted")))] == 1.0
    assert figures[("storeedge_interventions_cleared_total",
                    (("lane", "1"), ("method", "pin"), ("reason", "attendant_called")))] == 1.0
    assert figures[("storeedge_intervention_wait_seconds_count",
                    (("reason", "attendant_called"),))] == 1.0
    assert figures[("storeedge_sales_total", (("lane", "1"),))] == 1.0
    assert figures[("storeedge_receipts_total", (("lane", "1"), ("outcome", "printed")))] == 1.0
