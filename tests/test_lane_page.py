"""The live lane page in a real browser: scans appear without a reload, text stays text."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from drivers.sim_scanner import send_scan
from edge.seed import gtin13
from tests.helpers import MEMBER_CODE, MILK, WATER, Daemon, write_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(write_config(tmp_path), tmp_path / "state").start()
    yield d
    d.signal(signal.SIGTERM)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (make setup installs it as root)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield browser
        await browser.close()


async def test_scans_appear_live_and_product_text_is_never_html(
    daemon: Daemon, browser: Browser, tmp_path: Path
) -> None:
    # A hostile product name, as a CRM change stream could one day deliver it.
    evil = gtin13("690666666666")
    db = sqlite3.connect(tmp_path / "state" / "storeedge.db", timeout=10)
    db.execute("INSERT INTO products (id, name, category, price_fen, updated_at)"
               " VALUES ('EVIL', '<img src=x onerror=alert(1)><script>alert(2)</script>',"
               " '零食', 100, 'now')")
    db.execute("INSERT INTO barcodes VALUES (?, 'gtin', 'EVIL')", ("0" + evil,))
    db.commit()
    db.close()

    page = await browser.new_page(viewport={"width": 1080, "height": 1920})
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(daemon.url + "/lane/1")
    await page.wait_for_selector("body[data-live='yes']")

    socket_path = tmp_path / "state" / "run" / "s1.sock"
    for code in (WATER, MILK, MEMBER_CODE, evil):
        answer = await asyncio.wait_for(send_scan(socket_path, code), 10)
        scan_id = answer.split()[1]
        await page.wait_for_selector(f"body[data-scan='{scan_id}']")

    rows = await page.locator("#cart tbody tr td:first-child").all_inner_texts()
    assert rows == ["农夫山泉 550ml", "伊利纯牛奶 250ml×12",
                    "<img src=x onerror=alert(1)><script>alert(2)</script>"]
    assert await page.locator("#member").inner_text() == "会员 张伟"
    # water 2.00 + milk at member price 59.00 + the snack at 9折 0.90
    assert await page.locator("#total").inner_text() == "¥61.90"
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "lane-page.png"), full_page=True)

    # A sale clears the cart on screen without a reload.
    status, _ = daemon.post("/api/lanes/1/cash", {"tendered_fen": 10000})
    assert status == 200
    # A locator, not wait_for_function: the page's CSP (no eval) applies to tests as well.
    await expect(page.locator("#cart tbody tr")).to_have_count(0)
    assert await page.locator("#total").inner_text() == "¥0.00"
    await page.close()
