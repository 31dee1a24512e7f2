"""The kiosk's attendant lock and bagging prompt in Chromium, against `storeedge run`.

Interventions are checkout's (docs/checkout.md); these tests assert what the shopper and the
attendant see: the reason in big type over everything, a wrong PIN refused with the lock
held, the right PIN or a badge scan clearing it, and the bagging-area prompt following the
simulated scale (set from the shell with `storeedge weigh`, as the demo does).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.browser import screenshot
from tests.checkout_support import SCALE
from tests.helpers import BEER, ROOT, WATER
from tests.kiosk_support import kiosk_daemon, kiosk_page, scan

PIN = "246810"


def storeedge(config: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "edge.cli", *args, "--config", str(config)],
                          cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def tap_pin(page: Page, pin: str) -> None:
    pad = page.locator("#pinpad")
    for digit in pin:
        await pad.locator(f"[data-key='{digit}']").click()
    await pad.locator("[data-key='ok']").click()


async def test_an_age_check_locks_the_screen_until_an_attendant_clears_it(
        tmp_path: Path, chromium: Browser) -> None:
    with kiosk_daemon(tmp_path) as daemon:
        config = daemon.config_path
        storeedge(config, "user", "add", "li", "--role", "supervisor", "--password-stdin",
                  stdin="li-password-1\n")
        storeedge(config, "user", "pin", "li", "--pin-stdin", stdin=PIN + "\n")
        badge = storeedge(config, "badge", "add", "li").strip().splitlines()[-1]
        async with kiosk_page(chromium, daemon, expect_http_errors=True) as (page, _watch):
            lock = page.locator("#lock")
            await scan(daemon, page, WATER)
            await scan(daemon, page, BEER)
            await expect(lock).to_be_visible()
            await expect(page.locator("#lock-reason")).to_have_text("请等待工作人员核验年龄")
            await screenshot(page, "kiosk-locked-age-check")

            await page.click("#lock-staff")
            await tap_pin(page, "000000")
            await expect(page.locator("#lock-message")).to_have_text("密码错误")
            await expect(lock).to_be_visible()
            assert daemon.get("/api/lanes/1")["locked"]
            await tap_pin(page, PIN)
            await expect(lock).to_be_hidden()
            await expect(page.locator("#cart tbody tr")).to_have_count(2)

            # The shopper asks for help; the attendant's badge at the scanner clears it.
            await page.click("#cart-screen [data-action=call]")
            await expect(lock).to_be_visible()
            await expect(page.locator("#lock-reason")).to_have_text("已呼叫工作人员，请稍候")
            await scan(daemon, page, badge)
            await expect(lock).to_be_hidden()
            assert not daemon.get("/api/lanes/1")["locked"]


async def test_the_bagging_prompt_follows_the_scale(tmp_path: Path, chromium: Browser) -> None:
    extra = SCALE + "\n[checkout]\nbag_timeout_ms = 60000\nunexplained_grace_ms = 300\n"
    with kiosk_daemon(tmp_path, extra=extra) as daemon:
        storeedge(daemon.config_path, "weigh", "0", "--lane", "1")
        async with kiosk_page(chromium, daemon) as (page, _watch):
            bagging = page.locator("#bagging")
            await scan(daemon, page, WATER)
            await expect(bagging).to_be_visible()
            await expect(bagging).to_have_text("请将「农夫山泉 550ml」放入装袋区")
            await screenshot(page, "kiosk-bagging")
            storeedge(daemon.config_path, "weigh", "570", "--lane", "1")
            await expect(bagging).to_be_hidden()
            await expect(page.locator("#lock")).to_be_hidden()
