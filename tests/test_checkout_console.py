"""The console's self-checkout page: waiting lanes, who cleared what, learned weights,
receipts not on paper with a reprint, and attendant badges for IT admins."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser import PageWatch, console_client, screenshot
from tests.checkout_support import ATTENDANT, Recorder, config_path, running, scan, staff
from tests.fake_printer import FakePrinter
from tests.helpers import BEER, WATER, staff_lane


async def test_supervisors_see_interventions_and_reprint_admins_give_badges(
        tmp_path: Path, chromium: Browser) -> None:
    printer = await FakePrinter(paper="out").start()
    try:
        async with running(config_path(tmp_path, printer_port=printer.port)) as app:
            await staff_lane(app, "2")  # a staffed lane sells once a cashier is in
            badges = await staff(app)
            await scan(app, BEER)
            await scan(app, f"BADGE:{badges['supervisor']}")
            await app.lanes["1"].call_attendant("help")
            recorder = Recorder(app, "2")
            await scan(app, WATER, lane="2")
            sale = await app.lanes["2"].pay_cash(500)
            await recorder.wait("receipt_print_failed")      # paper out
            await app.store.write(lambda conn: conn.executemany(
                "INSERT INTO weight_samples (product_id, grams, source, lane, at)"
                " VALUES ('P030', ?, ?, '1', 'now')",
                [(262, "shopper"), (258, "shopper"), (260, "attendant")]))
            console_url = app.console_url
            assert console_url is not None
            async with console_client(console_url) as client:
                await client.login(ATTENDANT, "li-password-1")
                view = await client.get("/console/api/checkout")
                assert [w["lane"] for w in view["attendant"]["lanes"]] == ["1"]
                assert [(r["reason"], r["cleared_by"], r["method"]) for r in view["recent"]] \
                    == [("attendant_called", None, None),
                        ("age_restricted", ATTENDANT, "badge")]
                [learned] = view["learned"]
                assert (learned["product_id"], learned["grams"], learned["usable"]) == (
                    "P030", 260, True)
                [unprinted] = view["receipts"]
                assert unprinted["sale_id"] == sale.sale_id and unprinted["state"] == "failed"
                status, _ = await client.request("GET", "/console/api/badges")
                assert status == 403                      # badges are IT's
                printer.paper = "ok"
                reprinted = await client.post("/console/api/receipts/reprint",
                                              {"sale_id": sale.sale_id})
                assert reprinted["printed"]
                status, body = await client.request(
                    "POST", "/console/api/receipts/reprint", json={"sale_id": "none"})
                assert status == 404 and body["code"] == "no_sale"

            context = await chromium.new_context(viewport={"width": 1280, "height": 1000})
            page = await context.new_page()
            watch = PageWatch(page)
            await page.goto(console_url + "/console/login")
            await page.fill("input[name=name]", "admin")
            await page.fill("input[name=password]", "admin-password-1")
            await page.click("form button[type=submit]")
            await page.wait_for_url("**/console/dashboard")
            await page.click("header nav a[href='/console/checkout']")
            await page.wait_for_url("**/console/checkout")
            await expect(page.locator("#waiting tr[data-lane='1']")).to_contain_text("顾客呼叫")
            await expect(page.locator("#learned tr[data-product='P030']")).to_contain_text(
                "260 ± 26 g")
            await expect(page.locator("#recent")).to_contain_text(ATTENDANT)
            await page.fill("#badge-name", "wang.cashier")
            await page.click("#badge-form button[type=submit]")
            await expect(page.locator("#badge-issued")).to_contain_text("BADGE:")
            badge = (await page.locator("#badge-issued").inner_text()).split("BADGE:")[1]
            await screenshot(page, "console-checkout")
            await page.click("#badges tr[data-user='wang.cashier'] button")
            await expect(page.locator("#checkout-status")).to_contain_text("wang.cashier")
            watch.assert_clean()
            refused = await scan(app, f"BADGE:{badge.strip()}")
            assert refused.data["reason"] == "unknown_badge"       # revoked with the others
            rows = await app.store.fetchall("SELECT action FROM audit_log WHERE action LIKE"
                                            " 'badge.%' ORDER BY id")
            assert [r["action"] for r in rows][-2:] == ["badge.assigned", "badge.revoked"]
    finally:
        await printer.stop()
