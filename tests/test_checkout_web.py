"""The kiosk site's self-checkout parts: the lane APIs, the attendant's live view and the exit
page, in Chromium against a running appliance."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import Browser, expect

from edge.app import EdgeApp
from edge.exit_tokens import ExitClaims, key_id, sign_token
from tests.browser import PageWatch, screenshot
from tests.checkout_support import PIN, config_path, running, scan, staff
from tests.helpers import BEER, WATER


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    async with running(config_path(tmp_path)) as app:
        await staff(app)
        yield app


async def call(app: EdgeApp, path: str, body: Any, *,
               content_type: str = "application/json") -> tuple[int, Any]:
    data = body if isinstance(body, str) else json.dumps(body)
    async with aiohttp.ClientSession() as session, session.post(
            f"{app.http_url}{path}", data=data, headers={"Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


async def test_the_lane_apis_answer_clearly(app: EdgeApp) -> None:
    status, body = await call(app, "/api/lanes/1/attendant", {"reason_text": "找不到条码"})
    assert status == 200 and body["result"] == "intervention_raised"
    assert body["data"]["reason"] == "attendant_called"
    status, body = await call(app, "/api/lanes/1/intervention/clear",
                              {"kind": "pin", "secret": "111111"})
    assert status == 403 and body["code"] == "wrong_pin" and body["zh"] == "密码错误"
    status, body = await call(app, "/api/lanes/1/intervention/clear",
                              {"kind": "pin", "secret": PIN})
    assert status == 200 and body["result"] == "intervention_cleared"
    status, body = await call(app, "/api/lanes/1/intervention/clear",
                              {"kind": "pin", "secret": PIN})
    assert status == 409 and body["code"] == "nothing_to_clear"
    for bad, code in (({"kind": "face", "secret": PIN}, "bad_field"),
                      ({"kind": "pin", "secret": PIN, "lane": "2"}, "unknown_field"),
                      ({"kind": "pin"}, "bad_field")):
        status, body = await call(app, "/api/lanes/1/intervention/clear", bad)
        assert status == 400 and body["code"] == code, body
    status, body = await call(app, "/api/lanes/1/attendant", "{}", content_type="text/plain")
    assert status == 415
    status, body = await call(app, "/api/lanes/7/attendant", {})
    assert status == 404
    status, body = await call(app, "/api/lanes/1/reprint", {"sale_id": "nope"})
    assert status == 409 and "no sale" in body["error"]


async def test_pin_lockout_is_a_429_with_the_wait(app: EdgeApp) -> None:
    await call(app, "/api/lanes/1/attendant", {})
    for _ in range(4):
        await call(app, "/api/lanes/1/intervention/clear", {"kind": "pin", "secret": "000000"})
    status, body = await call(app, "/api/lanes/1/intervention/clear",
                              {"kind": "pin", "secret": "000000"})
    assert status == 429 and body["code"] == "locked" and "min" in body["en"]
    assert app.lanes["1"].snapshot()["locked"]


async def test_the_attendant_sees_which_kiosk_and_why_live(
        app: EdgeApp, chromium: Browser) -> None:
    page = await chromium.new_page()
    watch = PageWatch(page, expect_http_errors=True)
    await page.goto(f"{app.http_url}/attendant")
    await expect(page.locator("body")).to_have_attribute("data-live", "yes")
    await expect(page.locator("#none")).to_be_visible()
    await scan(app, WATER)
    await scan(app, BEER)
    card = page.locator('li[data-lane="1"]')
    await expect(card).to_have_attribute("data-reason", "age_restricted")
    await expect(card).to_contain_text("An attendant will check your age")
    await expect(card).to_contain_text("青岛啤酒 500ml")
    await expect(page.locator("#none")).to_be_hidden()
    await screenshot(page, "attendant-waiting")
    await card.locator("input").fill("999999")
    await card.locator("button").click()
    await expect(card.locator(".status")).to_contain_text("Wrong PIN")
    await card.locator("input").fill(PIN)
    await card.locator("button").click()
    await expect(page.locator('li[data-lane="1"]')).to_have_count(0)
    await expect(page.locator("#none")).to_be_visible()
    assert not app.lanes["1"].snapshot()["locked"]
    watch.assert_clean()


async def test_the_exit_page_says_pass_or_fail_in_big_letters(
        tmp_path: Path, chromium: Browser) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "state" / "keys").mkdir(parents=True)
    (tmp_path / "state" / "keys" / "exit.pub").write_bytes(pem)
    path = config_path(tmp_path, exit_lane=True, exit_public_keys=["keys/exit.pub"])
    async with running(path) as app:
        page = await chromium.new_page()
        watch = PageWatch(page)
        await page.goto(f"{app.http_url}/exit/9")
        await expect(page.locator("body")).to_have_attribute("data-live", "yes")
        now = int(time.time())
        claims = ExitClaims(key_id(key.public_key()), "T01", uuid.uuid4().hex, now, now + 600,
                            3, 2350)
        token = "EXIT." + sign_token(key, claims)
        assert (await scan(app, token, lane="9")).code == "exit_passed"
        await expect(page.locator("#verdict")).to_have_text("通过 PASS")
        await expect(page.locator("#sale")).to_contain_text("¥23.50")
        await screenshot(page, "exit-pass")
        assert (await scan(app, token, lane="9")).code == "exit_refused"
        await expect(page.locator("#verdict")).to_have_text("未通过 FAIL")
        await expect(page.locator("#reason")).to_contain_text("Exit code already used")
        await screenshot(page, "exit-fail")
        watch.assert_clean()
        response = await page.goto(f"{app.http_url}/exit/1")   # a kiosk is not an exit
        assert response is not None and response.status == 404
