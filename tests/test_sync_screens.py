"""What people see of sync: the lane screen in Chromium and the status page store IT reads."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright

from tests.helpers import MILK
from tests.sync_helpers import make_sync_config, pair, running_crm, sell, started, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


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


async def test_lane_screen_shows_offline_then_online(tmp_path: Path, browser: Browser) -> None:
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        async with started(config) as app:
            page = await browser.new_page()
            await page.goto(f"{app.http_url}/lane/1")
            await page.wait_for_selector("#sync[data-state='offline']")
            assert "离线: not paired" in await page.locator("#sync").inner_text()

            await pair(config, crm)
            await page.wait_for_selector("#sync[data-state='online']")
            assert await page.locator("#sync").inner_text() == "在线"
            await page.close()


async def test_status_page_shows_the_backlog_and_dead_letters(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        async with started(config) as app, aiohttp.ClientSession() as http:
            await sell(app, [MILK])
            await sell(app, [MILK, MILK])
            await wait_for(lambda: app.sync.status()["pending_count"] == 2, what="figures")
            async with http.get(f"{app.http_url}/") as resp:
                page = await resp.text()
            assert 'id="sync" data-state="offline"' in page
            assert "not paired: run `storeedge pair CODE`" in page
            assert "2 events, ¥175.00, oldest" in page   # 65.00 + 130.00 less 满100减20

            await pair(config, crm)
            await wait_for(lambda: app.sync.status()["pending_count"] == 0, what="drained")
            async with http.get(f"{app.http_url}/") as resp:
                page = await resp.text()
            assert 'data-state="online"' in page and "0 events, ¥0.00" in page
            assert crm.url in page
