"""The self-checkout kiosk in Chromium, as a shopper uses it, against `storeedge run`.

Scans go through the kiosk's simulated scanner; wallet payments go to the WeChat Pay
simulator (its own process). Each test asserts what the shopper sees on the screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser import screenshot
from tests.helpers import MEMBER_CODE, MILK, WATER, Daemon
from tests.kiosk_support import db_execute, kiosk_daemon, kiosk_page, scan
from tests.payments_support import SimProcess, wechat_code

SHAREABLE = ("INSERT INTO coupon_rules (id, label, body, updated_at) VALUES ('R', '送好友券',"
             " '{\"shareable\": true, \"coupon_label\": \"好友减5\", \"coupon\":"
             " {\"kind\": \"cash_off\", \"off_fen\": 500}}', '2026-01-01')")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    (tmp_path / "sim").mkdir()
    with SimProcess(tmp_path) as process:
        yield process


@pytest.fixture
def daemon(tmp_path: Path, sim: SimProcess) -> Iterator[Daemon]:
    with kiosk_daemon(tmp_path, sim=sim, receipt_ms=2000) as running:
        yield running


async def test_a_whole_self_checkout(daemon: Daemon, sim: SimProcess,
                                     chromium: Browser) -> None:
    db_execute(daemon, SHAREABLE)
    async with kiosk_page(chromium, daemon) as (page, _watch):
        body = page.locator("body")
        await expect(body).to_have_attribute("data-screen", "attract")
        await expect(page.locator("#attract h1")).to_have_text("欢迎使用自助收银")
        await screenshot(page, "kiosk-attract")

        await scan(daemon, page, WATER)
        await scan(daemon, page, MILK)
        await expect(body).to_have_attribute("data-screen", "cart")
        await expect(page.locator("#cart .name")).to_have_text(["农夫山泉 550ml",
                                                                 "伊利纯牛奶 250ml×12"])
        await expect(page.locator("#total")).to_have_text("¥67.00")

        await scan(daemon, page, MEMBER_CODE)
        await expect(page.locator("#member")).to_contain_text("您好，张*")
        await expect(page.locator("#member")).to_contain_text("金卡")
        await expect(page.locator("#total")).to_have_text("¥61.00")   # milk at ¥59 for members

        await scan(daemon, page, "CPWELCOME10")
        await expect(page.locator("#coupons")).to_contain_text("新会员满50减10: -¥10.00")
        await expect(page.locator("#total")).to_have_text("¥51.00")
        await expect(page.locator("#savings")).to_have_text("-¥16.00")
        await screenshot(page, "kiosk-cart")

        await page.click("#cart-screen [data-action=pay]")
        await expect(body).to_have_attribute("data-screen", "pay")
        await expect(page.locator("#pay-due")).to_have_text("¥51.00")
        await expect(page.locator("#pay-hint")).to_contain_text("付款码")
        code = wechat_code(11)
        sim.script(code, outcome="userpaying", queries=15)
        await scan(daemon, None, code)
        await expect(page.locator("#pay-progress")).to_have_text("请在手机上确认付款")
        await screenshot(page, "kiosk-pay-confirm-on-phone")

        await expect(body).to_have_attribute("data-screen", "receipt", timeout=20_000)
        await expect(page.locator("#receipt-summary")).to_have_text("小票 #1 · 实付 ¥51.00")
        coupon_qr = page.locator("#issued figure img")
        await expect(coupon_qr).to_have_count(1)
        await expect(page.locator("#issued figcaption")).to_contain_text("好友减5")
        assert await coupon_qr.evaluate("img => img.complete && img.naturalWidth > 0")
        await screenshot(page, "kiosk-receipt")

        # Nobody touches the screen: back to attract, the sale stays paid.
        await expect(body).to_have_attribute("data-screen", "attract", timeout=10_000)
    (order,) = sim.orders()
    assert (order["state"], order["charged_fen"]) == ("PAID", 5100)
    assert daemon.get("/api/lanes/1")["last_sale"]["total_fen"] == 5100
