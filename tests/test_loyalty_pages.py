"""Loyalty through the web: the kiosk site's JSON endpoints and the console's guides page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import defusedxml.ElementTree
import pytest
from playwright.async_api import Browser, expect

from edge.app import EdgeApp
from tests.browser import FAST_HASHING, PageWatch, console_client, running_edge, screenshot
from tests.helpers import CHIPS, MEMBER_CODE, MILK, RICE, WATER, write_config


class Kiosk:
    """What a kiosk page does over HTTP."""

    def __init__(self, app: EdgeApp, http: aiohttp.ClientSession) -> None:
        assert app.http_url is not None
        self.app, self.http, self.base = app, http, app.http_url + "/api/lanes/1"

    async def post(self, path: str, body: Any, *, raw: str | None = None,
                   content_type: str = "application/json") -> tuple[int, Any]:
        data = raw if raw is not None else json.dumps(body)
        async with self.http.post(self.base + path, data=data,
                                  headers={"Content-Type": content_type}) as resp:
            return resp.status, await resp.json()

    async def ok(self, path: str, body: Any) -> dict[str, Any]:
        status, answer = await self.post(path, body)
        assert status == 200, answer
        return dict(answer)

    async def scan(self, text: str) -> None:
        event = await self.app.handle_scan(self.app.lanes["1"], text, None, None)
        assert event.ok, event.message

    async def lane(self) -> dict[str, Any]:
        async with self.http.get(self.base) as resp:
            return dict(await resp.json())


@pytest.fixture
async def kiosk(tmp_path: Path) -> AsyncIterator[Kiosk]:
    async with running_edge(write_config(tmp_path)) as app, aiohttp.ClientSession() as http:
        yield Kiosk(app, http)


async def test_the_kiosk_endpoints_drive_phone_coupons_points_and_finish(kiosk: Kiosk) -> None:
    await kiosk.scan(MILK)
    asked = await kiosk.ok("/member/phone", {"phone": "13800138000"})
    assert (asked["result"], asked["data"]["name_masked"]) == ("phone_confirm_needed", "张*")
    assert (await kiosk.ok("/member/phone/confirm", {"digits": "8000"}))["result"] == \
        "member_identified"
    lane = await kiosk.lane()
    assert lane["member"]["needs"] == "member_code" and lane["total_fen"] == 5900
    refused = await kiosk.ok("/tenders/points", {"points": 100})
    assert (refused["result"], refused["ok"]) == ("tender_refused", False)
    await kiosk.scan(MEMBER_CODE)   # the demo's static code: spending needs the last 4
    assert (await kiosk.ok("/member/phone/confirm", {"digits": "8000"}))["result"] == \
        "phone_confirmed"
    applied = await kiosk.ok("/coupons", {"code": "CPWELCOME10"})
    assert (applied["result"], applied["data"]["amount_fen"]) == ("coupon_applied", 1000)
    assert (await kiosk.ok("/tenders/points", {"points": 1280}))["data"]["points"] == 1280
    lane = await kiosk.lane()
    assert lane["tenders_pending"]["rest_fen"] == 5900 - 1000 - 1280
    stored = await kiosk.ok("/tenders/stored-value", {"amount_fen": 100})
    assert stored["data"]["reason"] == "offline_refused"   # not paired: no allowance
    status, answer = await kiosk.post("/tenders/finish", {})
    assert status == 409 and "short" in answer["error"]    # points do not pay it all
    await kiosk.ok("/coupons/remove", {"code": "WELCOME10"})
    assert (await kiosk.lane())["coupons"] == []
    await kiosk.ok("/tenders/clear", {})
    await kiosk.ok("/coupons", {"code": "WELCOME10"})
    assert (await kiosk.ok("/tenders/points", {"points": 1280}))["data"]["points"] == 1280


async def test_points_can_pay_a_whole_sale_and_bad_bodies_are_refused(kiosk: Kiosk) -> None:
    await kiosk.scan(CHIPS)
    await kiosk.scan(MEMBER_CODE)
    await kiosk.ok("/member/phone/confirm", {"digits": "8000"})
    await kiosk.ok("/tenders/points", {"points": 675})
    done = await kiosk.ok("/tenders/finish", {})
    assert (done["result"], done["data"]["total_fen"], done["data"]["points_earned"]) == (
        "sale_completed", 675, 0)
    for body, field in (({"phone": "138001380"}, "phone"), ({"phone": 13800138000}, "phone"),
                        ({"phone": "13800138000", "x": 1}, "x"), ({}, "phone")):
        status, answer = await kiosk.post("/member/phone", body)
        assert status == 400 and answer["field"] == field, answer
    status, _ = await kiosk.post("/tenders/points", {"points": -1})
    assert status == 400
    status, _ = await kiosk.post("/coupons", None, raw="code=WELCOME10",
                                 content_type="application/x-www-form-urlencoded")
    assert status == 415
    status, answer = await kiosk.post("/member/join", {"consent_version": "x", "accepted": True})
    assert status == 409 and "no offer" in answer["error"]


async def test_the_shareable_coupon_qr_of_the_last_sale(kiosk: Kiosk) -> None:
    await kiosk.app.store.write(lambda c: c.execute(
        "INSERT INTO coupon_rules (id, label, body, updated_at) VALUES ('R', '送好友券',"
        " '{\"shareable\": true, \"coupon_label\": \"好友减5\", \"coupon\":"
        " {\"kind\": \"cash_off\", \"off_fen\": 500}}', '2026-01-01')"))
    await kiosk.scan(WATER)
    status, _ = await kiosk.post("/cash", {"tendered_fen": 200})
    assert status == 200
    (coupon,) = (await kiosk.lane())["last_sale"]["issued_coupons"]
    url = f"{kiosk.base}/last-sale/coupons/{coupon['code']}/qr.svg"
    async with kiosk.http.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        svg = defusedxml.ElementTree.fromstring(await resp.read())
    assert svg.tag.endswith("svg") and any(e.tag.endswith("path") for e in svg.iter())
    async with kiosk.http.get(f"{kiosk.base}/last-sale/coupons/NOPE/qr.svg") as resp:
        assert resp.status == 404


# -- the console's guides page -----------------------------------------------------------------

async def test_guide_attribution_on_the_console_page(tmp_path: Path, chromium: Browser) -> None:
    async with running_edge(write_config(tmp_path, console=FAST_HASHING)) as app:
        lane = app.lanes["1"]
        sales = []
        for guide, member, codes in (("GDG001", MEMBER_CODE, [MILK]),
                                     ("GDG001", "MC10000002", [RICE]),
                                     ("GDG001", None, [WATER]),
                                     ("GDG002", MEMBER_CODE, [CHIPS]),
                                     ("GDG001", MEMBER_CODE, [WATER])):
            for text in [guide, *codes, *([member] if member else [])]:
                assert (await app.handle_scan(lane, text, None, None)).ok
            sales.append(await lane.pay_cash(lane.priced.total_fen))
        # Zhang Wei bought with guide G001 before this week: a repeat customer of hers.
        await app.store.write(lambda c: c.execute(
            "UPDATE sales SET created_at = '2020-01-01T02:00:00.000+00:00' WHERE id = ?",
            (sales[0].sale_id,)))
        await app.users.create("li", "supervisor", "li password", actor="test")
        await app.users.create("wang", "cashier", "wang password", actor="test")
        assert app.console_url is not None
        async with console_client(app.console_url) as client:
            await client.login("li", "li password")
            report = await client.get("/console/api/guides")
            rows = {g["guide_id"]: g for g in report["guides"]}
            assert {k: rows["G001"][k] for k in ("name", "sales", "amount_fen", "first_time",
                                                 "repeat", "member_sales")} == {
                "name": "陈静", "sales": 3, "amount_fen": 5990 + 200 + 200, "first_time": 1,
                "repeat": 1, "member_sales": 2}
            assert (rows["G002"]["first_time"], rows["G002"]["repeat"]) == (1, 0)
            old = await client.get("/console/api/guides?from=2020-01-01&to=2020-01-01")
            assert [(g["guide_id"], g["first_time"]) for g in old["guides"]] == [("G001", 1)]
            status, _ = await client.request("GET", "/console/api/guides?from=2026-13-01")
            assert status == 400
        async with console_client(app.console_url) as cashier:
            await cashier.login("wang", "wang password")
            status, _ = await cashier.request("GET", "/console/api/guides")
            assert status == 403

        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        watch = PageWatch(page)
        await page.goto(app.console_url + "/console/login?next=/console/guides")
        await page.wait_for_selector("body[data-ready='yes']")
        await page.fill("input[name=name]", "li")
        await page.fill("input[name=password]", "li password")
        await page.press("input[name=password]", "Enter")
        await page.wait_for_url("**/console/guides")
        row = page.locator("#guides tr[data-guide='G001']")
        await expect(row).to_contain_text("陈静")
        await expect(row.locator("td.first-time")).to_have_text("1")
        await expect(row.locator("td.repeat")).to_have_text("1")
        await expect(page.locator("header nav a[href='/console/guides']")).to_have_text("导购业绩")
        await screenshot(page, "console-guides")
        await page.fill("#guides-from", "2019-01-01")
        await page.fill("#guides-to", "2019-12-31")
        await page.click("form[role=search] button[type=submit]")
        await expect(page.locator("#guides-none")).to_be_visible()
        watch.assert_clean()
        await context.close()
