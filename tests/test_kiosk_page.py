"""The self-checkout kiosk in Chromium, as a shopper uses it, against `storeedge run`.

Scans go through the kiosk's simulated scanner; wallet payments go to the WeChat Pay
simulator (its own process). Each test asserts what the shopper sees on the screen.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from edge.seed import gtin13
from tests.browser import screenshot
from tests.checkout_support import PRINTER
from tests.fake_printer import FakePrinter
from tests.helpers import CHIPS, MEMBER_CODE, MILK, RICE, WATER, Daemon
from tests.kiosk_support import LANDSCAPE, PORTRAIT, db_execute, kiosk_daemon, kiosk_page, scan
from tests.payments_support import SimProcess, wechat_code
from tests.sync_helpers import CrmProcess, crm_rows, pair_process, sync_config_text

EVIL = "<img src=x onerror=alert(1)><script>alert(2)</script>"
EINVOICE = ('\n[checkout]\nereceipt_url = "https://fapiao.example.cn/e?s={store}&id={sale_id}'
            '&a={amount_fen}&sig={sig}"\n')
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
    with kiosk_daemon(tmp_path, sim=sim, extra=EINVOICE, receipt_ms=2000) as running:
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
        ereceipt = page.locator("#ereceipt-qr")                 # the e-invoice link's QR
        await expect(ereceipt).to_be_visible()
        assert await ereceipt.evaluate("img => img.complete && img.naturalWidth > 0")
        await screenshot(page, "kiosk-receipt")

        # Nobody touches the screen: back to attract, the sale stays paid.
        await expect(body).to_have_attribute("data-screen", "attract", timeout=10_000)
    (order,) = sim.orders()
    assert (order["state"], order["charged_fen"]) == ("PAID", 5100)
    assert daemon.get("/api/lanes/1")["last_sale"]["total_fen"] == 5100


async def tap_digits(page: Page, digits: str) -> None:
    """Type on the open number pad with the finger, key by key, then OK."""
    pad = page.locator("dialog.keypad[open]")
    for digit in digits:
        await pad.locator(f"[data-key='{digit}']").click()
    await pad.locator("[data-key='ok']").click()


async def test_a_member_by_phone_number_and_its_last_4_digits(daemon: Daemon,
                                                             chromium: Browser) -> None:
    async with kiosk_page(chromium, daemon, viewport=PORTRAIT) as (page, _watch):
        await scan(daemon, page, MILK)
        await page.click("#cart-screen [data-action=member]")
        await expect(page.locator("dialog.keypad[open] h2")).to_have_text("会员登录")
        await tap_digits(page, "13800138000")
        pad = page.locator("dialog.keypad[open]")
        await expect(pad.locator("h2")).to_have_text("请输入手机号 138****8000 的后四位")
        await tap_digits(page, "1234")                      # a slip: asked again, with why
        await expect(pad.locator(".pad-message")).not_to_be_empty()
        await screenshot(page, "kiosk-last4-portrait")
        await tap_digits(page, "8000")
        await expect(page.locator("dialog.keypad[open]")).to_have_count(0)
        await expect(page.locator("#member")).to_contain_text("您好，张*")
        await expect(page.locator("#member")).to_contain_text("手机号")
        await expect(page.locator("#total")).to_have_text("¥59.00")


async def test_a_declined_payment_is_said_plainly_and_the_cart_stays(
        daemon: Daemon, sim: SimProcess, chromium: Browser) -> None:
    async with kiosk_page(chromium, daemon) as (page, _watch):
        await scan(daemon, page, WATER)
        await page.click("#cart-screen [data-action=pay]")
        code = wechat_code(12)
        sim.script(code, outcome="notenough")
        await scan(daemon, None, code)
        error = page.locator("#pay-error")
        await expect(error).to_have_text("余额不足，请在钱包中更换付款方式后重新扫码")
        await expect(page.locator("body")).to_have_attribute("data-screen", "pay")
        await screenshot(page, "kiosk-pay-declined")
        await page.click("#pay-screen [data-action=back]")
        await expect(page.locator("#cart .name")).to_have_text(["农夫山泉 550ml"])
    assert daemon.get("/api/lanes/1")["last_sale"] is None


async def test_points_pay_after_the_last_4_digits_and_offline_stored_value_is_refused(
        daemon: Daemon, chromium: Browser) -> None:
    async with kiosk_page(chromium, daemon) as (page, _watch):
        await scan(daemon, page, CHIPS)                     # ¥6.75
        await scan(daemon, page, MEMBER_CODE)               # the demo's static code
        await expect(page.locator("#member")).to_contain_text("1280")
        await page.click("#cart-screen [data-action=pay]")
        points = page.locator("#pay-screen [data-action=points]")
        stored = page.locator("#pay-screen [data-action=stored_value]")
        await expect(points).to_be_visible()
        await expect(stored).to_be_visible()

        # Not paired with the CRM: no offline allowance, said plainly, nothing taken.
        await stored.click()
        pad = page.locator("dialog.keypad[open]")
        await expect(pad.locator(".pad-message")).to_have_text(
            "使用积分或储值前，请输入手机号后四位")
        await tap_digits(page, "8000")
        await expect(page.locator("#message")).to_contain_text("离线储值不可用")
        await expect(page.locator("#pay-tenders")).to_have_text("")

        await points.click()                                # 1,280 points, capped at the due
        await expect(page.locator("#pay-tenders")).to_have_text("积分抵扣 ¥6.75 · 储值 ¥0.00")
        await expect(page.locator("#pay-hint")).to_have_text("积分和储值已足额支付，请点“完成支付”")
        await expect(points).to_be_hidden()
        await screenshot(page, "kiosk-points-cover-the-sale")
        await page.click("#pay-screen [data-action=finish]")
        await expect(page.locator("body")).to_have_attribute("data-screen", "receipt")
        await expect(page.locator("#receipt-summary")).to_have_text("小票 #1 · 实付 ¥6.75")
    sale = daemon.get("/api/lanes/1")["last_sale"]
    assert (sale["total_fen"], sale["member_id"]) == (675, "M0001")


async def test_a_stranger_who_paid_joins_with_one_tap_and_earns_the_sale_s_points(
        tmp_path: Path, sim: SimProcess, chromium: Browser) -> None:
    crm = CrmProcess(tmp_path / "crm.db")
    try:
        with kiosk_daemon(tmp_path, sim=sim, extra=sync_config_text(crm.url),
                          prepare=lambda config: pair_process(crm, config),
                          receipt_ms=60_000) as daemon:
            deadline = time.monotonic() + 30
            while daemon.get("/api/status").get("sync", {}).get("online") is not True:
                assert time.monotonic() < deadline, "the kiosk never reached the CRM"
                await asyncio.sleep(0.1)
            async with kiosk_page(chromium, daemon) as (page, _watch):
                await scan(daemon, page, MILK)                  # ¥65.00, no member
                await page.click("#cart-screen [data-action=pay]")
                code = wechat_code(21)
                sim.script(code, payer="alice")
                await scan(daemon, None, code)
                body = page.locator("body")
                await expect(body).to_have_attribute("data-screen", "receipt", timeout=20_000)
                join = page.locator("#join")
                await expect(join).to_be_visible(timeout=20_000)
                await expect(page.locator("#join-offer")).to_have_text("加入会员，本单可得 65 积分")
                await expect(page.locator("#join-consent")).to_contain_text("支付账户")
                await screenshot(page, "kiosk-join-offer")
                await page.click("#receipt-screen [data-action=join]")
                await expect(join).to_be_hidden()
                await expect(page.locator("#receipt-points")).to_have_text("本单获得积分 65")
            member_id = daemon.get("/api/lanes/1")["last_sale"]["member_id"]
            assert member_id
        deadline = time.monotonic() + 30
        while crm_rows(crm.db, "SELECT provider, member_id FROM wallet_links") != [
                ("wechat", member_id)]:
            assert time.monotonic() < deadline, "the wallet link never reached the CRM"
            await asyncio.sleep(0.2)
    finally:
        if crm.proc.poll() is None:
            crm.stop()


async def test_the_receipt_screen_says_whether_the_receipt_printed(
        tmp_path: Path, sim: SimProcess, chromium: Browser) -> None:
    printer = await FakePrinter().start()
    try:
        with kiosk_daemon(tmp_path, sim=sim, extra=PRINTER.format(lane="1", port=printer.port),
                          receipt_ms=60_000) as daemon:
            async with kiosk_page(chromium, daemon) as (page, _watch):
                body = page.locator("body")
                for number, (paper, said) in enumerate((
                        ("out", "小票未能打印，请扫描电子小票二维码"),
                        ("ok", "小票已打印，请取走")), start=31):
                    printer.paper = paper
                    await scan(daemon, page, WATER)
                    await page.click("#cart-screen [data-action=pay]")
                    code = wechat_code(number)
                    sim.script(code)
                    await scan(daemon, None, code)
                    await expect(body).to_have_attribute("data-screen", "receipt",
                                                         timeout=20_000)
                    await expect(page.locator("#receipt-print")).to_have_text(said,
                                                                              timeout=20_000)
                    await screenshot(page, f"kiosk-receipt-paper-{paper}")
                    await page.click("#receipt-screen [data-action=done]")
                    await expect(body).to_have_attribute("data-screen", "attract")
    finally:
        await printer.stop()


async def test_a_product_named_like_markup_is_shown_as_text(daemon: Daemon,
                                                            chromium: Browser) -> None:
    code = gtin13("690666666666")
    db_execute(daemon, "INSERT INTO products (id, name, category, price_fen, updated_at)"
               " VALUES ('EVIL', ?, '零食', 100, 'now')", (EVIL,))
    db_execute(daemon, "INSERT INTO barcodes VALUES (?, 'gtin', 'EVIL')", ("0" + code,))
    async with kiosk_page(chromium, daemon) as (page, watch):
        await scan(daemon, page, code)
        await expect(page.locator("#cart .name")).to_have_text([EVIL])
        assert await page.locator("#cart img, #cart script").count() == 0
        assert watch.dialogs == []


@pytest.mark.parametrize("viewport", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
async def test_every_screen_fits_and_every_button_is_big_enough(
        daemon: Daemon, chromium: Browser, viewport: dict[str, int]) -> None:
    name = "landscape" if viewport is LANDSCAPE else "portrait"
    async with kiosk_page(chromium, daemon, viewport=viewport) as (page, _watch):
        await check_fits(page, viewport)
        await screenshot(page, f"kiosk-{name}-attract")
        for code in [WATER, MILK, CHIPS, RICE, MEMBER_CODE, *[WATER] * 12]:
            await scan(daemon, page, code)
        await check_fits(page, viewport)
        await screenshot(page, f"kiosk-{name}-cart")
        await page.click("#cart-screen [data-action=pay]")
        await check_fits(page, viewport)
        await screenshot(page, f"kiosk-{name}-pay")


async def check_fits(page: Page, viewport: dict[str, int]) -> None:
    """Nothing wider or taller than the screen; each visible button whole and >= 64 px."""
    overflow = await page.evaluate("""() => [document.documentElement.scrollWidth,
        document.documentElement.scrollHeight]""")
    assert overflow == [viewport["width"], viewport["height"]], overflow
    buttons = page.locator("main button:visible")
    assert await buttons.count() > 0
    for i in range(await buttons.count()):
        box = await buttons.nth(i).bounding_box()
        assert box is not None
        label = await buttons.nth(i).inner_text()
        assert box["height"] >= 64 and box["width"] >= 64, (label, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (label, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (label, box)


async def test_idle_asks_still_there_then_voids_the_unpaid_cart_in_chinese_again(
        tmp_path: Path, chromium: Browser) -> None:
    with kiosk_daemon(tmp_path, idle_ms=1500, still_there_ms=2000) as daemon:
        async with kiosk_page(chromium, daemon) as (page, _watch):
            body = page.locator("body")
            await page.click("#lang-toggle")
            await expect(page.locator("#attract h1")).to_have_text("Welcome to self-checkout")
            await scan(daemon, page, WATER)
            await expect(page.locator("#cart thead")).to_contain_text("Amount")
            await expect(page.locator("#message")).to_have_text("Added: 农夫山泉 550ml")
            await screenshot(page, "kiosk-english-cart")

            question = page.locator("#still-there")
            await expect(question).to_be_visible(timeout=10_000)
            await expect(question.locator("h2")).to_have_text("您还在吗？")  # zh-CN again
            await screenshot(page, "kiosk-still-there")
            await page.click("#still-here")
            await expect(question).to_be_hidden()
            assert [line["name"] for line in daemon.get("/api/lanes/1")["lines"]] == [
                "农夫山泉 550ml"]

            await expect(question).to_be_visible(timeout=10_000)
            await expect(body).to_have_attribute("data-screen", "attract", timeout=10_000)
            await expect(question).to_be_hidden()
        assert daemon.get("/api/lanes/1")["lines"] == []


async def test_offline_the_kiosk_says_so_and_refuses_wallet_codes_clearly(
        tmp_path: Path, chromium: Browser) -> None:
    crm = CrmProcess(tmp_path / "crm.db")
    try:
        with kiosk_daemon(tmp_path, extra=sync_config_text(crm.url),
                          prepare=lambda config: pair_process(crm, config)) as daemon:
            async with kiosk_page(chromium, daemon) as (page, watch):
                wallet = page.locator("#wallet-offline")
                await scan(daemon, page, WATER)
                await expect(wallet).to_be_hidden()
                crm.stop()
                await expect(wallet).to_be_visible(timeout=20_000)
                await expect(wallet).to_contain_text("微信/支付宝付款码暂不可用")
                await page.click("#cart-screen [data-action=pay]")
                await scan(daemon, None, wechat_code(13))
                await expect(page.locator("#pay-error")).to_have_text(
                    "网络未连接，暂不能使用微信/支付宝付款码，请使用其他方式付款")
                await screenshot(page, "kiosk-offline-wallet-refused")

                # The daemon itself goes: the page keeps the cart and says the link is down.
                daemon.signal(signal.SIGTERM)
                await expect(page.locator("#offline")).to_be_visible(timeout=10_000)
                await page.click("#pay-screen [data-action=back]")
                await expect(page.locator("#cart .name")).to_have_text(["农夫山泉 550ml"])
                # Chromium logs each refused reconnect; those are the point here.
                watch.errors[:] = [e for e in watch.errors if "ERR_CONNECTION_REFUSED" not in e]
    finally:
        if crm.proc.poll() is None:
            crm.stop()
