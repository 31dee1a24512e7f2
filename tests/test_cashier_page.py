"""The cashier lane in Chromium: a whole shift at the keyboard, with the scan gun's scans.

Scans are injected through the simulated scanner's socket on lane 2 and reach the page over
its WebSocket; every action is a key press, as a cashier works. The drawer and the Z report
go to the fake network printer speaking ESC/POS status bytes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from drivers.receipt import drawer_kick
from drivers.sim_scanner import send_scan
from edge.app import EdgeApp
from edge.seed import gtin13
from tests.browser import FAST_HASHING, PageWatch, running_edge, screenshot
from tests.fake_printer import FakePrinter
from tests.helpers import CHIPS, MILK, WATER, write_config
from tests.sync_helpers import wait_for

DEVICES = """
[[devices]]
id = "sim-2"
driver = "sim_scanner"
lane = "2"
[devices.options]
socket = "{{run_dir}}/s2.sock"

[[devices]]
id = "printer-2"
driver = "printer"
lane = "2"
[devices.options]
host = "127.0.0.1"
port = {port}
journal = "{{state_dir}}/printer-2.jobs.sqlite"
status_interval_ms = 0
"""
EVIL = "<img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.fixture
async def printer() -> AsyncIterator[FakePrinter]:
    device = await FakePrinter().start()
    yield device
    await device.stop()


@pytest.fixture
async def edge(tmp_path: Path, printer: FakePrinter) -> AsyncIterator[EdgeApp]:
    config = write_config(tmp_path, console=FAST_HASHING, extra=DEVICES.format(port=printer.port))
    async with running_edge(config) as app:
        await app.users.create("li", "cashier", "cashier password", actor="test")
        await app.users.create("wang", "supervisor", "supervisor password", actor="test",
                               pin="2468")
        yield app


async def scan(app: EdgeApp, page: Page, code: str) -> None:
    answer = await asyncio.wait_for(send_scan(app.config.paths.run_dir / "s2.sock", code), 10)
    await page.wait_for_selector(f"body[data-scan='{answer.split()[1]}']")


async def sign_in(page: Page, float_yuan: str = "500") -> None:
    await page.fill("#signin-form input[name=name]", "li")
    await page.fill("#signin-form input[name=password]", "cashier password")
    await page.keyboard.press("Enter")
    dialog = page.locator("dialog[open]")            # no shift yet: the float is asked for
    await expect(dialog).to_contain_text("备用金")
    await page.keyboard.type(float_yuan)
    await page.keyboard.press("Enter")
    await expect(page.locator("#shift")).to_have_text("班次 #1")


async def approve(page: Page, pin: str) -> None:
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("主管 PIN")
    await page.keyboard.type(pin)
    await page.keyboard.press("Enter")
    await expect(dialog).to_have_count(0)


def cells(page: Page, column: str) -> Locator:
    return page.locator(f"#cart tbody td.col-{column}")


async def test_a_shift_at_the_till(edge: EdgeApp, chromium: Browser,
                                   printer: FakePrinter) -> None:
    page = await chromium.new_page(viewport={"width": 1366, "height": 768})
    watch = PageWatch(page, expect_http_errors=True)   # the wrong PIN is a 403 the page shows
    await page.goto(f"{edge.http_url}/lane/2")
    await page.wait_for_selector("body[data-live='yes']")
    await expect(page.locator("#signin")).to_be_visible()
    await screenshot(page, "lane-signin")
    await sign_in(page)

    for code in (WATER, MILK, CHIPS):
        await scan(edge, page, code)
    await expect(cells(page, "item")).to_have_text(
        ["农夫山泉 550ml", "伊利纯牛奶 250ml×12", "乐事薯片 原味 70g"])

    # Quantity: select the milk, type 2, press Q, the supervisor's PIN.
    await page.keyboard.press("ArrowUp")
    await page.keyboard.type("2")
    await page.keyboard.press("q")
    await approve(page, "2468")
    await expect(cells(page, "qty")).to_have_text(["1", "2", "1"])

    # Void line: a wrong PIN is refused and changes nothing; the right one voids it.
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("d")
    await approve(page, "0000")
    await expect(page.locator("#message")).to_have_text("主管 PIN 不正确")
    await expect(cells(page, "item")).to_have_count(3)
    await page.keyboard.press("F3")
    await approve(page, "2468")
    await expect(cells(page, "item")).to_have_text(["农夫山泉 550ml", "伊利纯牛奶 250ml×12"])
    # 2.00 + 2 x 65.00 = 132.00, less 满100减20
    await expect(page.locator("#total")).to_have_text("¥112.00")

    # Cash: type the amount received, Enter; the change is shown and the drawer opens.
    await page.keyboard.type("200")
    await page.keyboard.press("Enter")
    await expect(page.locator("#change")).to_have_text("找零 ¥88.00（应收 ¥112.00）")
    await expect(cells(page, "item")).to_have_count(0)
    await screenshot(page, "lane-sale-change")
    # Opened once, though the page and the receipt desk both ask (one job id).
    await wait_for(lambda: any("合计".encode("gb18030") in d for d in printer.documents),
                   what="the sale's receipt")
    assert b"".join(printer.documents).count(drawer_kick(2)) == 1

    # X report: the figures so far, nothing closes.
    await page.keyboard.press("x")
    report = page.locator("dialog[open] table.figures")
    await expect(report).to_contain_text("¥112.00")
    await expect(page.locator("dialog[open]")).to_contain_text("删除单品 ×1")
    await expect(report).to_contain_text("¥612.00")      # float 500 + 200 in - 88 change
    await screenshot(page, "lane-x-report")
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog[open]")).to_have_count(0)

    # A refund of one milk by receipt number, approved. R at once after the report closed: the
    # till takes it (the report's action ended when it was shown, not when its close event ran).
    await page.keyboard.press("r")
    await expect(page.locator("dialog[open] input[name=receipt_no]")).to_be_visible()
    await page.keyboard.press("Tab")
    await page.keyboard.type("1")
    await page.keyboard.press("Enter")
    refund = page.locator("dialog[open]")
    await expect(refund).to_contain_text("小票 #1")
    await refund.locator("input[data-line='1']").fill("0")
    await refund.locator("input[data-line='2']").fill("1")
    await refund.locator("input[name=pin]").fill("2468")
    await screenshot(page, "lane-refund-dialog")
    await refund.locator("button[type=submit]").click()
    await expect(page.locator("body")).to_have_attribute("data-refund", "1")
    conn = sqlite3.connect(edge.config.paths.database)
    milk_net, refunded = conn.execute(
        "SELECT l.net_fen, r.amount_fen FROM sale_lines l, refunds r WHERE l.line_no = 2"
        " AND r.sale_id = l.sale_id").fetchone()
    conn.close()
    assert refunded == milk_net // 2     # one of two, its share of the 满减 included
    await expect(page.locator("#message")).to_contain_text(
        f"退款 #1：请从钱箱付给顾客 ¥{refunded // 100}.{refunded % 100:02d}")

    # Z report: close the shift, printed, and the next shift opens with the float left.
    await page.keyboard.press("z")
    await expect(page.locator("dialog[open]")).to_contain_text("交班")
    await page.keyboard.press("Enter")
    z = page.locator("dialog[open]")
    await expect(z).to_contain_text("Z 报表 · 班次 #1")
    await expect(z).to_contain_text("退款 ×1")
    await expect(z).to_contain_text("已打印")
    await screenshot(page, "lane-z-report")
    await page.keyboard.press("Escape")
    await expect(page.locator("#shift")).to_have_text("班次 #2")
    assert any("Z 报表".encode("gb18030") in document for document in printer.documents)
    watch.assert_clean()

    conn = sqlite3.connect(edge.config.paths.database)
    actions = conn.execute("SELECT actor, action, json_extract(detail, '$.supervisor')"
                           " FROM audit_log WHERE action LIKE 'lane.%' AND action NOT LIKE"
                           " 'lane.signed%' ORDER BY id").fetchall()
    conn.close()
    assert actions == [("li", "lane.quantity_changed", "wang"),
                       ("li", "lane.line_voided", "wang"), ("li", "lane.refunded", "wang")]
    await page.close()


async def test_product_text_stays_text_and_english_is_one_key_away(
        edge: EdgeApp, chromium: Browser) -> None:
    evil = gtin13("690666666666")
    conn = sqlite3.connect(edge.config.paths.database)
    conn.execute("INSERT INTO products (id, name, category, price_fen, updated_at)"
                 " VALUES ('EVIL', ?, '零食', 100, 'now')", (EVIL,))
    conn.execute("INSERT INTO barcodes VALUES (?, 'gtin', 'EVIL')", ("0" + evil,))
    conn.commit()
    conn.close()
    page = await chromium.new_page(viewport={"width": 1280, "height": 720})
    watch = PageWatch(page)
    await page.goto(f"{edge.http_url}/lane/2")
    await page.wait_for_selector("body[data-live='yes']")
    await sign_in(page)
    # A key pressed in the same moment the X report closes is not lost: the till is not left
    # busy until the dialog's close event runs. Closing and pressing in one task makes it exact.
    await page.keyboard.press("x")
    await expect(page.locator("dialog[open] table.figures")).to_be_visible()
    await page.evaluate("""() => {
        document.querySelector("dialog[open]").close();
        document.dispatchEvent(new KeyboardEvent("keydown", { key: "r", bubbles: true }));
    }""")
    await expect(page.locator("dialog[open] input[name=receipt_no]")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog[open]")).to_have_count(0)
    await scan(edge, page, evil)
    await expect(cells(page, "item")).to_have_text([EVIL])
    await page.click("#lang-toggle")
    await expect(page.locator("#shift")).to_have_text("Shift #1")
    await expect(page.locator("button[data-action=void_line]")).to_contain_text("Void line")
    await screenshot(page, "lane-english")
    # Signing out returns to the sign-in form; scans are then refused.
    await page.keyboard.press("l")
    await expect(page.locator("#signin")).to_be_visible()
    await scan(edge, page, WATER)
    assert [line.product_id for line in edge.lanes["2"].cart.lines] == ["EVIL"]
    watch.assert_clean()
    await page.close()
