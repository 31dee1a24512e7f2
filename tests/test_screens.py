"""Aisle screens: their config, what they show and when, the guide calls, and Chromium.

The QR on a coupon slide is read back from Chromium's screenshot with the project's own
barcode pipeline (``drivers.vision.decode_image``): what a shopper's phone would read.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.async_api import Browser, expect

from drivers.vision import decode_image
from edge.app import EdgeApp
from edge.config import load_config
from edge.errors import ConfigError, StoreError
from edge.guide_calls import GuideCalls
from edge.screen_content import ScreenContent, build_slides, claim_url
from edge.screens_config import ALL, ScreenRules, SignageConfig
from edge.seed import seed_demo
from edge.store import Store
from tests.browser import PageWatch, running_edge, screenshot
from tests.helpers import write_config

CLAIM = "https://coupons.example.com/claim?code={code}&store={store}&zone={zone}"
SCREENS = f"""
[signage]
claim_url = "{CLAIM}"
refresh_s = 0.2

[[screens]]
zone = "A1"
name = "饮料区"
rotate_s = 1.5
products = ["EVIL", "P001"]
promotions = ["PROMO-MJ100"]
coupons = ["WELCOME10", "MINE"]

[[screens]]
zone = "B2"
name = "早餐"
categories = ["乳制品"]
promotions = []
coupons = []
"""
EVIL = "<img src=x onerror=alert(1)>雪碧<script>alert(2)</script>"
NOW = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)   # 09:30 in Shanghai


def config_error(tmp_path: Path, extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, extra=extra))
    return caught.value


@pytest.mark.parametrize(("extra", "key"), [
    ('\n[signage]\nclaim_url = "ftp://x/{code}"\n', "signage.claim_url"),
    ('\n[signage]\nclaim_url = "https://x.example.com/claim"\n', "signage.claim_url"),
    ('\n[signage]\nclaim_url = "https://x.example.com/{code}/{member}"\n', "signage.claim_url"),
    ('\n[signage]\nrefresh_s = 0\n', "signage.refresh_s"),
    ('\n[signage]\nsecret = 1\n', "signage.secret"),
    ('\n[[screens]]\nzone = "a b"\n', "screens[0].zone"),
    ('\n[[screens]]\nzone = "A"\n[[screens]]\nzone = "A"\n', "screens[1].zone"),
    ('\n[[screens]]\nzone = "A"\ncoupons = "some"\n', "screens[0].coupons"),
    ('\n[[screens]]\nzone = "A"\nproducts = "all"\n', "screens[0].products"),
    ('\n[[screens]]\nzone = "A"\ncamera = "cam-1"\n', "screens[0].camera"),
    ('\n[[screens]]\nzone = "A"\n[[screens.schedule]]\nfrom = "25:00"\nto = "10:00"\n',
     "screens[0].schedule[0].from"),
    ('\n[[screens]]\nzone = "A"\n[[screens.schedule]]\nfrom = "10:00"\nto = "10:00"\n',
     "screens[0].schedule[0].to"),
    ('\n[cashier]\nsession_idle_s = -1\n', "cashier.session_idle_s"),
    ('\n[cashier]\nsession_idle_s = 100\nsession_max_s = 10\n', "cashier.session_max_s"),
    ('\n[cashier]\nallow_self_approval = "yes"\n', "cashier.allow_self_approval"),
])
def test_config_mistakes_name_their_key(tmp_path: Path, extra: str, key: str) -> None:
    assert config_error(tmp_path, extra).key == key


def test_a_schedule_replaces_what_it_lists_for_its_hours() -> None:
    signage = SignageConfig.from_mapping({}, [{
        "zone": "A", "categories": ["饮料"], "coupons": "all",
        "schedule": [{"from": "06:00", "to": "10:00", "products": ["P006"], "categories": []},
                     {"from": "22:00", "to": "02:00", "promotions": []}]}])
    screen = signage.screens[0]
    assert screen.rules_at(dt.time(9, 59)) == ScreenRules(("P006",), (), ALL, ALL)
    assert screen.rules_at(dt.time(10, 0)) == ScreenRules((), ("饮料",), ALL, ALL)
    assert screen.rules_at(dt.time(23, 0)).promotions == ()
    assert screen.rules_at(dt.time(1, 0)).promotions == ()


def rows() -> dict[str, list[dict[str, Any]]]:
    product = {"id": "P1", "name": "水", "name_en": "Water", "category": "饮料",
               "price_fen": 200, "member_price_fen": 150, "sold_by_weight": 0}
    coupon = {"code": "OPEN", "label": "满50减10", "valid_from": None, "valid_to": None,
              "member_id": None, "redeemed_at": None,
              "body": json.dumps({"kind": "cash_off", "off_fen": 1000, "threshold_fen": 5000})}
    promotion = {"id": "PR", "kind": "threshold", "label": "满100减20", "active": 1,
                 "body": json.dumps({"threshold_fen": 10000, "off_fen": 2000}),
                 "starts_at": None, "ends_at": None}
    return {"products": [product],
            "promotions": [promotion, {**promotion, "id": "OLD",
                                       "ends_at": "2026-01-01T00:00:00+00:00"}],
            "coupons": [coupon, {**coupon, "code": "MINE", "member_id": "M0001"},
                        {**coupon, "code": "USED", "redeemed_at": "2026-01-01T00:00:00+00:00"},
                        {**coupon, "code": "LATER", "valid_from": "2027-01-01T00:00:00+00:00"}]}


def test_slides_show_only_what_a_passer_by_may_see() -> None:
    screen = SignageConfig.from_mapping({}, [{"zone": "A1", "products": ["P1"]}]).screens[0]
    slides = build_slides(screen, screen.rules, rows(), now=NOW, claim_template=CLAIM,
                          store="S 1")
    assert [(s["kind"], s.get("id") or s.get("code")) for s in slides] == [
        ("product", "P1"), ("promotion", "PR"), ("coupon", "OPEN")]   # no personal coupon
    assert slides[2]["claim_url"] == ("https://coupons.example.com/claim?code=OPEN&store=S%201"
                                      "&zone=A1")
    assert claim_url(CLAIM, "a&b=c", store="s", zone="z").count("&") == 2
    assert build_slides(screen, screen.rules, rows(), now=NOW, claim_template="",
                        store="S")[-1]["kind"] == "promotion"   # no claim page: no coupons


async def test_a_screen_shows_its_last_content_when_the_store_cannot_be_read(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    await store.write(seed_demo)
    signage = SignageConfig.from_mapping({"claim_url": CLAIM}, [{"zone": "A1",
                                                                 "categories": ["饮料"]}])
    content = ScreenContent(store, signage, store_id="S1", timezone="Asia/Shanghai",
                            cache_dir=tmp_path / "screens")
    fresh = await content.compute("A1", NOW)
    assert fresh["stale"] is False and len(fresh["slides"]) > 3
    await store.close()
    cached = await content.compute("A1", NOW)
    assert cached == {**fresh, "stale": True}
    with pytest.raises(StoreError):     # nothing cached for a zone never shown
        await ScreenContent(store, signage, store_id="S1", timezone="Asia/Shanghai",
                            cache_dir=tmp_path / "elsewhere").compute("A1", NOW)


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    async with running_edge(write_config(tmp_path, extra=SCREENS)) as app:
        conn = sqlite3.connect(app.config.paths.database)
        conn.execute("INSERT INTO products (id, name, category, price_fen, updated_at)"
                     " VALUES ('EVIL', ?, '饮料', 350, 'now')", (EVIL,))
        conn.execute("INSERT INTO coupons (code, label, body, member_id, updated_at) VALUES"
                     " ('MINE', '张伟的券', '{\"kind\": \"cash_off\", \"off_fen\": 500}',"
                     " 'M0001', 'now')")
        conn.commit()
        conn.close()
        yield app


async def test_guide_calls_are_one_per_zone_until_answered(edge: EdgeApp) -> None:
    calls = GuideCalls(edge.store, cooldown_s=0, shown=50)
    first, made = await calls.call("A1")
    again, made_again = await calls.call("A1")
    assert made and not made_again and again.id == first.id
    other, _ = await calls.call("B2")
    answered = await calls.acknowledge(first.id, by="小王")
    assert answered is not None and answered.acked_by == "小王"
    assert await calls.acknowledge("nosuchcall", by="x") is None
    recent = await calls.recent()
    assert [c.id for c in recent] == [other.id, first.id]   # waiting calls first
    later, made_later = await calls.call("A1")     # no cooldown here: a new call
    assert made_later and later.id != first.id
    answered_now, _ = await edge.guide_calls.call("B2")   # 20 s: the guide is on the way
    assert (await edge.guide_calls.acknowledge(answered_now.id, by="x")) is not None
    again_soon, made_soon = await edge.guide_calls.call("B2")
    assert not made_soon and again_soon.id == answered_now.id


def decode_qr(png: bytes) -> list[str]:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return [code.text for code in decode_image(image) if code.symbology == "QRCODE"]


async def test_a_screen_rotates_to_a_coupon_whose_qr_claims_it(edge: EdgeApp,
                                                              chromium: Browser) -> None:
    page = await chromium.new_page(viewport={"width": 1920, "height": 1080})
    watch = PageWatch(page)
    await page.goto(f"{edge.http_url}/screen/A1")
    await page.wait_for_selector("body[data-live='yes']")
    seen: list[str] = []
    for kind in ("product", "promotion", "coupon"):
        await page.wait_for_selector(f"body[data-slide-kind='{kind}']", timeout=15000)
        seen.append(kind)
        if kind == "product":
            await page.wait_for_selector("body[data-slide-index='0']", timeout=15000)
            await expect(page.locator(".slide .name")).to_have_text(EVIL)   # text, not HTML
            await screenshot(page, "screen-product")
        if kind == "promotion":
            await expect(page.locator(".slide .detail")).to_have_text("满 ¥100.00 减 ¥20.00")
            await screenshot(page, "screen-promotion")
    for _ in range(3):   # a screenshot the next slide did not catch half-way
        await page.wait_for_selector("body[data-slide-kind='coupon']", timeout=15000)
        png = (await screenshot(page, "screen-coupon")).read_bytes()
        label = await page.locator(".slide .name").inner_text()
        if await page.get_attribute("body", "data-slide-kind") == "coupon":
            break
    assert label == "新会员满50减10"
    assert decode_qr(png) == [CLAIM.format(code="WELCOME10", store="T01", zone="A1")]
    assert "张伟的券" not in await page.content()   # a member's own coupon is never shown
    watch.assert_clean()
    await page.close()

    portrait = await chromium.new_page(viewport={"width": 1080, "height": 1920})
    await portrait.goto(f"{edge.http_url}/screen/A1")
    await expect(portrait.locator("body")).to_have_attribute("data-orientation", "portrait")
    for _ in range(3):
        await portrait.wait_for_selector("body[data-slide-kind='coupon']", timeout=15000)
        png = (await screenshot(portrait, "screen-portrait")).read_bytes()
        if await portrait.get_attribute("body", "data-slide-kind") == "coupon":
            break
    assert len(decode_qr(png)) == 1
    await portrait.close()


async def test_call_a_guide_reaches_the_guides_and_their_answer_comes_back(
        edge: EdgeApp, chromium: Browser) -> None:
    guides = await chromium.new_page(viewport={"width": 1280, "height": 800})
    screen = await chromium.new_page(viewport={"width": 1080, "height": 1920})
    watches = [PageWatch(guides), PageWatch(screen)]
    await guides.goto(f"{edge.http_url}/guides")
    await guides.wait_for_selector("body[data-live='yes']")
    await expect(guides.locator("#guides-empty")).to_be_visible()
    await screen.goto(f"{edge.http_url}/screen/B2")
    await screen.wait_for_selector("body[data-live='yes']")
    await screen.click("#call-guide")
    await expect(screen.locator("#call-state")).to_have_text("已呼叫导购，请稍候")
    await expect(screen.locator("#call-guide")).to_be_disabled()
    await screenshot(screen, "screen-call-waiting")

    call = guides.locator("li.waiting")
    await expect(call).to_have_count(1)
    await expect(call.locator(".zone")).to_have_text("早餐")
    await screenshot(guides, "guides-call")
    await call.locator("button").click()
    await expect(guides.locator("li.answered")).to_have_count(1)
    await expect(screen.locator("#call-state")).to_have_text("导购正在赶来")
    await screen.click("#lang-toggle")
    await expect(screen.locator("#call-guide")).to_have_text("Call a guide")
    await expect(screen.locator("#call-state")).to_have_text("A guide is on the way")
    for watch in watches:
        watch.assert_clean()
    await guides.close()
    await screen.close()
