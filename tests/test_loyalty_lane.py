"""Loyalty at a lane, as shoppers see it: member codes, phone, face, coupons, points, guides."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.catalog import Catalog
from edge.config import load_config
from edge.errors import LaneError
from edge.lane import LaneEvent, LaneSession
from edge.loyalty_config import LoyaltySettings, MembersConfig
from edge.sales import OutboxIdentity, Tender
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from sync import member_code
from tests.helpers import CHIPS, MEMBER_CODE, MILK, RICE, ROOT, WATER, make_lane, write_config
from tests.payments_support import pay_env, wechat_code

RULES = load_config(None).scan


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "edge.db", busy_timeout_ms=50)
    await store.open()
    await store.write(seed_demo)
    yield store
    await store.close()


def lane_with(store: Store, lane_id: str = "1", **members: Any) -> LaneSession:
    """A lane with production identification rules (static codes off) unless told."""
    return LaneSession(lane_id, store, Catalog(store), OutboxIdentity("T01", "lane-pc-1"),
                       loyalty=LoyaltySettings(members=MembersConfig(**members)))


async def scan(lane: LaneSession, text: str) -> LaneEvent:
    return await lane.handle_scan(route(text, RULES))


async def seed_of(store: Store, member_id: str) -> str:
    row = await store.fetchone("SELECT code_seed FROM members WHERE id = ?", (member_id,))
    assert row is not None
    return str(row[0])


async def rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await store.fetchall(sql, params)]


# -- the rotating member code ------------------------------------------------------------------

async def test_a_rotating_code_works_once_and_its_screenshot_fails_later(store: Store) -> None:
    first, second = lane_with(store, "1"), lane_with(store, "2")
    seed = await seed_of(store, "M0001")
    code = member_code.code_for("M0001", seed, time.time())
    assert (await scan(first, MILK)).ok
    before = first.priced.total_fen
    event = await scan(first, code)
    assert event.code == "member_identified" and event.data["identified_by"] == "code"
    assert first.priced.total_fen == before - 600          # member price at once, mid-cart
    assert first.snapshot()["member"]["can_spend"] is True
    assert (await scan(first, code)).code == "member_identified"   # a double read, same cart
    reused = await scan(second, code)                      # the same code shown again
    assert (reused.code, reused.ok) == ("member_code_reused", False)
    assert "refresh" in reused.data["en"] and second.cart.member is None
    screenshot = member_code.code_for("M0001", seed, time.time() - 120)   # two minutes old
    expired = await scan(second, screenshot)
    assert (expired.code, expired.ok) == ("member_code_expired", False)
    assert "已过期" in expired.data["zh"] and second.cart.member is None
    wrong = await scan(second, "MCM0001.12345678")
    assert (wrong.code, wrong.ok) == ("member_not_found", False)
    # the step is remembered durably: a restarted lane refuses it too
    again = lane_with(store, "2")
    assert (await scan(again, code)).code == "member_code_reused"


async def test_static_codes_only_where_allowed(store: Store) -> None:
    production = lane_with(store, "1")
    refused = await scan(production, MEMBER_CODE)
    assert (refused.code, refused.ok) == ("member_not_found", False)
    assert "rotating member code" in refused.data["en"]
    demo = lane_with(store, "2", accept_static_codes=True)
    assert (await scan(demo, MEMBER_CODE)).code == "member_identified"
    member = demo.snapshot()["member"]
    assert member["name_masked"] == "张*" and member["tier"] == "gold"
    assert (member["points_balance"], member["stored_value_fen"]) == (1280, 20000)
    # a static code copies with a screenshot: spending needs the phone's last 4 digits
    assert (member["can_spend"], member["needs"]) == (False, "phone_last4")


# -- phone -------------------------------------------------------------------------------------

async def test_phone_needs_the_last_4_digits_and_then_the_member_code_to_spend(
        store: Store) -> None:
    lane = lane_with(store)
    await scan(lane, RICE)
    assert (await lane.identify_by_phone("1380013800")).data["reason"] == "bad_phone"
    assert (await lane.identify_by_phone("13100000000")).code == "member_not_found"
    asked = await lane.identify_by_phone("13800138000")
    assert asked.code == "phone_confirm_needed"
    assert (asked.data["name_masked"], asked.data["phone_masked"]) == ("张*", "138****8000")
    assert lane.cart.member is None and lane.priced.total_fen == 6990   # not yet
    wrong = await lane.confirm_phone_last4("1234")
    assert (wrong.code, wrong.ok, wrong.data["attempts_left"]) == (
        "phone_confirm_needed", False, 2)
    assert (await lane.confirm_phone_last4("8000")).code == "member_identified"
    assert lane.priced.total_fen == 5990                    # member price, mid-cart
    member = lane.snapshot()["member"]
    assert (member["identified_by"], member["can_spend"], member["needs"]) == (
        "phone", False, "member_code")
    refused = await lane.use_points(100)
    assert (refused.code, refused.data["needs"]) == ("tender_refused", "member_code")
    code = member_code.code_for("M0001", await seed_of(store, "M0001"), time.time())
    await scan(lane, code)
    assert lane.snapshot()["member"]["can_spend"] is True
    assert (await lane.use_points(100)).code == "points_applied"


async def test_phone_look_ups_are_rate_limited_per_lane(store: Store) -> None:
    lane = lane_with(store, phone_lookups=3, phone_lookup_window_s=600)
    for _ in range(3):
        assert (await lane.identify_by_phone("13100000000")).code == "member_not_found"
    limited = await lane.identify_by_phone("13800138000")
    assert (limited.code, limited.ok) == ("phone_lookup_limited", False)
    wait = limited.data["retry_after_s"]
    assert 0 < wait <= 600 and f"{wait}秒" in limited.data["zh"]
    other = lane_with(store, "2", phone_lookups=3)
    assert (await other.identify_by_phone("13800138000")).code == "phone_confirm_needed"


async def test_too_many_wrong_digits_drop_the_phone_identification(store: Store) -> None:
    lane = lane_with(store, phone_confirm_attempts=2)
    await lane.identify_by_phone("13900139000")
    assert (await lane.confirm_phone_last4("0000")).code == "phone_confirm_needed"
    dropped = await lane.confirm_phone_last4("0001")
    assert (dropped.code, dropped.data["reason"]) == ("member_not_found", "too_many_wrong")
    with pytest.raises(LaneError):
        await lane.confirm_phone_last4("9000")


# -- face ----------------------------------------------------------------------------------------

async def test_a_face_identified_member_is_asked_for_the_last_4_before_spending(
        store: Store) -> None:
    lane = lane_with(store)
    await scan(lane, MILK)
    member = await Catalog(store).member("M0001")
    assert member is not None
    await lane.set_member(member, identified_by="face")
    assert lane.priced.total_fen == 5900
    for attempt in (lane.use_points(500), lane.use_stored_value(1000)):
        refused = await attempt
        assert (refused.code, refused.ok, refused.data["needs"]) == (
            "tender_refused", False, "phone_last4")
    assert lane.cart.loyalty.pending_fen == 0
    assert (await lane.confirm_phone_last4("1111")).code == "phone_confirm_needed"
    confirmed = await lane.confirm_phone_last4("8000")
    assert (confirmed.code, confirmed.data["purpose"]) == ("phone_confirmed", "spend")
    used = await lane.use_points(900)
    assert (used.code, used.data["points"], used.data["amount_fen"]) == ("points_applied", 900,
                                                                         900)
    assert lane.snapshot()["tenders_pending"]["rest_fen"] == 5000
    too_many = await lane.use_points(5000)
    assert (too_many.code, too_many.data["reason"]) == ("tender_refused",
                                                        "insufficient_points")
    sale = await lane.pay_cash(5000)
    assert sale.total_fen == 5900 and sale.change_fen == 0
    tenders = await rows(store, "SELECT kind, amount_fen FROM tenders WHERE sale_id = ?"
                         " ORDER BY id", (sale.sale_id,))
    assert tenders == [("points", 900), ("cash", 5000)]
    ledger = dict(await rows(store, "SELECT id, delta FROM ledger WHERE account = ?",
                             ("member:M0001:points",)))
    # earned on what money paid (50.00), burned as a tender
    assert ledger == {f"{sale.sale_id}:points_used": -900, f"{sale.sale_id}:points": 50}
    assert sale.points_earned == 50


# -- coupons ---------------------------------------------------------------------------------

async def test_a_coupon_is_applied_redeemed_once_and_refused_at_another_lane(
        store: Store) -> None:
    first, second = make_lane(store, "1"), make_lane(store, "2")
    await scan(first, WATER)
    early = await scan(first, "CPWELCOME10")
    assert (early.code, early.data["reason"], early.data["kept"]) == (
        "coupon_rejected", "below_threshold", True)
    assert "¥48.00" in early.data["en"]
    await scan(first, MILK)
    coupons = first.snapshot()["coupons"]
    assert [(c["code"], c["applied"], c["amount_fen"]) for c in coupons] == [
        ("WELCOME10", True, 1000)]
    assert first.priced.total_fen == 200 + 6500 - 1000
    sale = await first.pay_cash(first.priced.total_fen)
    redeemed = await rows(store, "SELECT redeemed_sale_id FROM coupons WHERE code = ?",
                          ("WELCOME10",))
    assert redeemed == [(sale.sale_id,)]
    payload = json.loads((await rows(store, "SELECT payload FROM outbox WHERE type ="
                                     " 'sale.completed'"))[0][0])
    assert payload["coupons"] == [{"code": "WELCOME10", "amount_fen": 1000}]
    assert any(d["promotion_id"] == "coupon:WELCOME10" for d in payload["discounts"])
    await scan(second, MILK)
    cart = second.cart
    again = await scan(second, "CPWELCOME10")
    assert (again.code, again.data["reason"], again.data["kept"]) == (
        "coupon_rejected", "redeemed", False)
    assert second.cart == cart and second.priced.total_fen == 6500   # the cart is intact


async def test_a_coupon_outside_its_window_is_refused_and_the_cart_stays(store: Store) -> None:
    await store.write(lambda c: c.executemany(
        "INSERT INTO coupons (code, label, body, valid_from, valid_to, updated_at)"
        " VALUES (?, ?, '{\"kind\": \"cash_off\", \"off_fen\": 300}', ?, ?, '2026-01-01')",
        [("OLD3", "满减3元", "2020-01-01T00:00:00+00:00", "2020-02-01T00:00:00+00:00"),
         ("LATER3", "满减3元", "2099-01-01T00:00:00+00:00", None)]))
    lane = make_lane(store)
    await scan(lane, MILK)
    cart, total = lane.cart, lane.priced.total_fen
    for code, reason, zh in (("CPOLD3", "expired", "已过期"), ("CPLATER3", "not_yet", "尚未生效"),
                             ("CPNOSUCH", "unknown", "无效")):
        event = await scan(lane, code)
        assert (event.code, event.ok, event.data["reason"]) == ("coupon_rejected", False, reason)
        assert zh in event.data["zh"]
        assert lane.cart == cart and lane.priced.total_fen == total


async def test_the_members_own_coupons_apply_by_themselves_and_can_be_taken_off(
        store: Store) -> None:
    await store.write(lambda c: c.execute(
        "INSERT INTO coupons (code, label, body, member_id, updated_at) VALUES"
        " ('ZW-5', '张伟专享减5元', '{\"kind\": \"cash_off\", \"off_fen\": 500}', 'M0001',"
        " '2026-01-01')"))
    lane = make_lane(store)
    await scan(lane, CHIPS)
    await scan(lane, MEMBER_CODE)
    assert [(c["code"], c["applied"]) for c in lane.snapshot()["coupons"]] == [("ZW-5", True)]
    removed = await lane.remove_coupon("ZW-5")
    assert removed.code == "coupon_removed"
    assert lane.snapshot()["coupons"] == [] and lane.priced.total_fen == 750 - 75
    other = make_lane(store, "2")
    await scan(other, CHIPS)
    refused = await other.apply_coupon_code("ZW-5")
    assert (refused.code, refused.data["reason"]) == ("coupon_rejected", "members_only")


async def test_coupons_after_payment_and_the_shareable_one(store: Store) -> None:
    rules = [("R-NEXT", "满50送券", {"min_total_fen": 5000, "coupon_label": "下次减5",
                                    "coupon": {"kind": "cash_off", "off_fen": 500}}),
             ("R-SHARE", "满50送好友券", {"min_total_fen": 5000, "shareable": True,
                                       "coupon_label": "好友减5",
                                       "coupon": {"kind": "cash_off", "off_fen": 500}}),
             ("R-BIG", "满500送券", {"min_total_fen": 50000, "coupon_label": "大额",
                                   "coupon": {"kind": "cash_off", "off_fen": 5000}})]
    await store.write(lambda c: c.executemany(
        "INSERT INTO coupon_rules (id, label, body, updated_at) VALUES (?, ?, ?, '2026-01-01')",
        [(i, label, json.dumps(body)) for i, label, body in rules]))
    lane = make_lane(store)
    seen: list[LaneEvent] = []
    lane.observe(lambda _lane, event: seen.append(event))
    await scan(lane, MILK)
    await scan(lane, MEMBER_CODE)
    await lane.pay_cash(lane.priced.total_fen)
    issued = {c["rule_id"]: c for c in lane.snapshot()["last_sale"]["issued_coupons"]}
    assert set(issued) == {"R-NEXT", "R-SHARE"}
    announced = [e for e in seen if e.code == "coupon_issued"]
    assert len(announced) == 1 and len(announced[0].data["coupons"]) == 2
    assert seen[-1].code == "sale_completed"
    mine, shared = issued["R-NEXT"], issued["R-SHARE"]
    assert (mine["member_id"], mine["shareable"]) == ("M0001", False)
    assert (shared["member_id"], shared["shareable"]) == (None, True)
    assert shared["qr_payload"] == "CP" + shared["code"]
    events = [json.loads(p) for (p,) in await rows(
        store, "SELECT payload FROM outbox WHERE type = 'coupon.issued' ORDER BY seq")]
    assert {e["code"] for e in events} == {mine["code"], shared["code"]}
    # the sharer cannot use it; a friend at the next lane can, by scanning the QR
    lane2 = make_lane(store, "2")
    await scan(lane2, MILK)
    await scan(lane2, MEMBER_CODE)
    own = await scan(lane2, shared["qr_payload"])
    assert (own.code, own.data["reason"]) == ("coupon_rejected", "own_share")
    await lane2.void("next shopper")
    await scan(lane2, MILK)
    friend = await scan(lane2, shared["qr_payload"])
    assert (friend.code, friend.data["amount_fen"]) == ("coupon_applied", 500)


# -- guides and restarts ---------------------------------------------------------------------

async def test_a_guide_code_attributes_the_sale(store: Store) -> None:
    lane = make_lane(store)
    unknown = await scan(lane, "GDG999")
    assert (unknown.code, unknown.ok) == ("guide_not_found", False)
    event = await scan(lane, "GDG001")
    assert (event.code, event.data["name"]) == ("guide_attributed", "陈静")
    assert lane.snapshot()["guide"] == {"id": "G001", "name": "陈静"}
    await scan(lane, WATER)
    sale = await lane.pay_cash(200)
    assert await rows(store, "SELECT guide_id FROM sales WHERE id = ?", (sale.sale_id,)) == [
        ("G001",)]
    payload = json.loads((await rows(store, "SELECT payload FROM outbox"))[0][0])
    assert payload["guide_id"] == "G001"
    assert lane.snapshot()["guide"] is None      # the next cart starts without


async def test_coupons_tenders_and_guide_survive_a_restart(store: Store) -> None:
    lane = make_lane(store)
    for text in (MILK, WATER, "CPWELCOME10", "GDG002", MEMBER_CODE):
        assert (await scan(lane, text)).ok
    assert (await lane.confirm_phone_last4("8000")).code == "phone_confirmed"
    assert (await lane.use_points(300)).code == "points_applied"
    before = lane.snapshot()
    restarted = make_lane(store)
    await restarted.restore()
    after = restarted.snapshot()
    for key in ("coupons", "guide", "tenders_pending", "total_fen"):
        assert after[key] == before[key], key
    assert after["member"]["can_spend"] is True
    sale = await restarted.complete([Tender("cash", after["tenders_pending"]["rest_fen"])])
    assert sale.total_fen == 6500 - 600 + 200 - 1000


async def test_points_and_stored_value_never_pay_more_than_the_total(store: Store) -> None:
    lane = make_lane(store)
    for text in (WATER, WATER, MEMBER_CODE):
        await scan(lane, text)
    await lane.confirm_phone_last4("8000")
    used = await lane.use_points(1000)
    assert (used.data["points"], used.data["requested"]) == (400, 1000)
    await lane.remove_line(lane.cart.lines[0].line_id)
    assert lane.cart.loyalty.points == 0      # the water went: nothing left to pay with points
    refused = await lane.use_stored_value(100)
    assert (refused.code, refused.data["reason"]) == ("tender_refused", "nothing_to_pay")


async def test_points_spent_meanwhile_refuse_the_sale_and_the_wallet_is_reversed(
        tmp_path: Path) -> None:
    async with pay_env(tmp_path) as env:
        lane, catalog = env.lane, Catalog(env.store)
        other = LaneSession("2", env.store, catalog, OutboxIdentity("T01", "lane-pc-1"))
        member = await catalog.member("M0001")
        assert member is not None
        for each in (lane, other):
            assert (await each.handle_scan(route(MILK, RULES))).ok
            await each.set_member(member)
            await each.confirm_phone_last4("8000")
            assert (await each.use_points(1000)).code == "points_applied"
        await other.pay_cash(4900)                 # 1280 - 1000 + 49 points are left
        code = wechat_code(21)
        started = await env.scan(code)
        assert (started.code, started.data["amount_fen"]) == ("payment_started", 4900)
        ended = await env.finished()
        assert (ended.code, ended.data["reason"]) == ("payment_failed", "settle_refused")
        order = next(iter(env.wechat.book.orders.values()))
        assert order.state == "REVERSED" and order.refunded_fen == order.charged_fen == 4900
        assert lane.cart.lines and lane.cart.loyalty.points == 1000   # the cart stays
        assert await env.one("SELECT count(*) FROM sales") == 1
        assert (await lane.use_points(329)).code == "points_applied"
        assert (await lane.use_points(330)).data["reason"] == "insufficient_points"


async def test_storeedge_member_code_prints_a_code_the_lane_takes(tmp_path: Path) -> None:
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    config.paths.database.parent.mkdir(parents=True)
    store = Store(config.paths.database)
    await store.open()
    try:
        await store.write(seed_demo)

        def storeedge(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "edge.cli", *args, "--config",
                                   str(config_path)], cwd=ROOT, capture_output=True,
                                  text=True, timeout=60, check=False)

        printed = await asyncio.to_thread(storeedge, "member", "code", "M0003", "--qr")
        assert printed.returncode == 0, printed.stderr
        code = printed.stdout.splitlines()[0]
        assert code.startswith("MCM0003.") and "taken once" in printed.stderr
        assert "█" in printed.stdout or "▀" in printed.stdout       # the QR, drawn
        lane = lane_with(store)
        assert (await scan(lane, code)).code == "member_identified"
        unknown = await asyncio.to_thread(storeedge, "member", "code", "M9999")
        assert unknown.returncode == 1 and "No member M9999" in unknown.stderr
    finally:
        await store.close()


async def test_negative_tenders_are_refused_before_anything_changes(store: Store) -> None:
    lane = make_lane(store)
    await scan(lane, MILK)
    await scan(lane, MEMBER_CODE)
    await lane.confirm_phone_last4("8000")
    for attempt in (lane.use_points(-100), lane.use_stored_value(-1)):
        with pytest.raises(LaneError):
            await attempt
    assert lane.cart.loyalty.pending_fen == 0 and lane.priced.total_fen == 5900
