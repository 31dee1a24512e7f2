"""Interventions at a running appliance: each reason locks the lane until a badge or a PIN
clears it, refusals are clear, the lock survives a restart, and every clearing is audited and
reported to the CRM."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edge.app import EdgeApp
from edge.errors import LaneError
from edge.lane import LaneEvent
from edge.seed import gtin13
from sync.events import check_payload
from tests.checkout_support import ATTENDANT, PIN, Recorder, config_path, running, scan, staff
from tests.helpers import BEER, CHIPS, MILK, WATER, staff_lane

UNKNOWN = gtin13("690999999999")
WECHAT_CODE = "134567890123456789"


async def raise_reason(app: EdgeApp, reason: str) -> None:
    """Do what a shopper does that calls for ``reason`` at kiosk lane 1."""
    lane = app.lanes["1"]
    if reason == "age_restricted":
        await scan(app, BEER)
    elif reason == "unknown_item":
        await scan(app, UNKNOWN)
    elif reason == "quantity_limit":
        for _ in range(4):
            await scan(app, WATER)
    elif reason == "attendant_called":
        await lane.call_attendant("cannot find the barcode")
    elif reason == "rescan_audit":
        await scan(app, CHIPS)
        await scan(app, MILK)
        with pytest.raises(LaneError):
            await lane.pay_cash(10_000)
    state = lane.snapshot()
    assert state["locked"] and state["intervention"]["reason"] == reason, state["intervention"]


async def audit_rows(app: EdgeApp, action: str) -> list[dict[str, Any]]:
    rows = await app.store.fetchall("SELECT actor, target, detail FROM audit_log"
                                    " WHERE action = ? ORDER BY id", (action,))
    return [{"actor": r["actor"], "target": r["target"], **json.loads(r["detail"])}
            for r in rows]


REASONS = ["age_restricted", "unknown_item", "quantity_limit", "attendant_called",
           "rescan_audit"]


@pytest.mark.parametrize("method", ["badge", "pin"])
@pytest.mark.parametrize("reason", REASONS)
async def test_each_reason_locks_until_an_attendant_clears_it(
        tmp_path: Path, reason: str, method: str) -> None:
    path = config_path(tmp_path, max_qty_per_product=3, rescan_items=1,
                       rescan_audit_rate=1.0 if reason == "rescan_audit" else 0.0)
    async with running(path) as app:
        badges = await staff(app)
        lane = app.lanes["1"]
        await raise_reason(app, reason)
        before = len(lane.cart.lines)

        refused = await scan(app, WATER)                       # the lock holds
        assert refused.code == "lane_locked" and not refused.ok
        assert refused.data["en"] == "Please wait for an attendant"
        assert len(lane.cart.lines) == before
        with pytest.raises(LaneError):
            await lane.set_quantity(lane.cart.lines[0].line_id, 1) if lane.cart.lines \
                else await lane.void()
        assert (await scan(app, WECHAT_CODE)).code == "lane_locked"   # no payment starts

        if method == "badge":
            cleared = await scan(app, f"BADGE:{badges['supervisor']}")
        else:
            cleared = await lane.clear_intervention(PIN, "pin")
        if reason == "rescan_audit":          # the attendant is in: now the listed items
            assert cleared.code == "audit_rescan" and lane.snapshot()["locked"]
            item = lane.snapshot()["intervention"]["detail"]["items"][0]
            code = {"P010": CHIPS, "P006": MILK}[item["product_id"]]
            cleared = await scan(app, code)
            assert len(lane.cart.lines) == before     # a rescan checks, it does not add
        assert cleared.code == "intervention_cleared", cleared
        assert cleared.data["cleared_by"] == ATTENDANT and cleared.data["method"] == method
        assert not lane.snapshot()["locked"] and lane.snapshot()["intervention"] is None

        [raised] = await audit_rows(app, "intervention.raised")
        [done] = await audit_rows(app, "intervention.cleared")
        assert raised["reason"] == done["reason"] == reason and done["actor"] == ATTENDANT
        outbox = await app.store.fetchall(
            "SELECT payload FROM outbox WHERE type = 'intervention.cleared'")
        [payload] = [json.loads(r["payload"]) for r in outbox]
        check_payload("intervention.cleared", payload)      # the CRM's own check
        assert payload["reason"] == reason and payload["method"] == method
        row = await app.store.fetchone("SELECT cleared_by, method FROM interventions")
        assert row is not None and tuple(row) == (ATTENDANT, method)

        if lane.cart.lines:
            sale = await lane.pay_cash(100_000)    # cleared: the shopper can pay
            assert sale.total_fen > 0


async def test_a_wrong_pin_is_refused_then_rate_limited_and_the_lock_holds(
        tmp_path: Path) -> None:
    async with running(config_path(tmp_path)) as app:
        badges = await staff(app)
        lane = app.lanes["1"]
        await scan(app, BEER)
        for _ in range(4):
            wrong = await lane.clear_intervention("000000", "pin")
            assert wrong.code == "attendant_refused" and wrong.data["reason"] == "wrong_pin"
            assert wrong.data["zh"] == "密码错误"
        locked = await lane.clear_intervention("000000", "pin")
        assert locked.data["reason"] == "locked" and "try again in" in locked.data["en"]
        right = await lane.clear_intervention(PIN, "pin")          # even the right one now
        assert right.data["reason"] == "locked"
        assert lane.snapshot()["locked"]
        assert (await scan(app, WATER)).code == "lane_locked"
        assert [r["scope"] for r in await audit_rows(app, "auth.locked")] == ["lane"]
        # A badge is another key: the attendant still gets in.
        cleared = await scan(app, f"BADGE:{badges['cashier']}")
        assert cleared.code == "intervention_cleared" and cleared.data["cleared_by"] == \
            "wang.cashier"


async def test_badges_that_must_not_clear_are_refused(tmp_path: Path) -> None:
    async with running(config_path(tmp_path, attendant_role="supervisor")) as app:
        badges = await staff(app)
        lane = app.lanes["1"]
        await lane.call_attendant("help")
        for text, reason in ((f"BADGE:{badges['cashier']}", "not_allowed"),
                             ("BADGE:not-a-real-badge", "unknown_badge")):
            refused = await scan(app, text)
            assert (refused.code, refused.data["reason"]) == ("attendant_refused", reason)
        await app.checkout.badges.revoke(ATTENDANT, actor="admin")
        revoked = await scan(app, f"BADGE:{badges['supervisor']}")
        assert revoked.data["reason"] == "unknown_badge"
        await app.users.set_disabled(ATTENDANT, True, actor="admin")
        assert (await lane.clear_intervention(PIN, "pin")).data["reason"] == "wrong_pin"
        assert lane.snapshot()["locked"]
        assert [r["hint"] for r in await audit_rows(app, "badge.assigned")] == [
            badges["supervisor"][-4:], badges["cashier"][-4:]]


async def test_the_lock_survives_a_restart(tmp_path: Path) -> None:
    path = config_path(tmp_path)
    async with running(path) as app:
        badges = await staff(app)
        await scan(app, WATER)
        await scan(app, BEER)
        raised = app.lanes["1"].snapshot()["intervention"]
    async with running(path) as app:
        lane = app.lanes["1"]
        assert lane.snapshot()["intervention"] == raised and lane.snapshot()["locked"]
        assert (await scan(app, WATER)).code == "lane_locked"
        assert (await scan(app, f"BADGE:{badges['supervisor']}")).code == "intervention_cleared"
    async with running(path) as app:
        lane = app.lanes["1"]
        assert not lane.snapshot()["locked"]
        assert (await scan(app, BEER)).code == "item_added"     # age approved for this cart
        assert not lane.snapshot()["locked"]


async def test_age_is_checked_once_per_cart_and_again_for_the_next(tmp_path: Path) -> None:
    async with running(config_path(tmp_path)) as app:
        badges = await staff(app)
        lane = app.lanes["1"]
        await scan(app, BEER)
        await scan(app, f"BADGE:{badges['cashier']}")
        await scan(app, BEER)
        assert not lane.snapshot()["locked"]
        await lane.pay_cash(10_000)
        await scan(app, BEER)
        assert lane.snapshot()["intervention"]["reason"] == "age_restricted"


async def test_a_staffed_lane_checks_age_but_not_unknown_items(tmp_path: Path) -> None:
    async with running(config_path(tmp_path)) as app:
        await staff_lane(app, "2")  # a staffed lane sells once a cashier is in
        recorder = Recorder(app, "2")
        assert (await scan(app, UNKNOWN, lane="2")).code == "item_not_found"
        assert not app.lanes["2"].snapshot()["locked"]
        await scan(app, BEER, lane="2")
        assert app.lanes["2"].snapshot()["intervention"]["reason"] == "age_restricted"
        assert recorder.codes[-2:] == ["item_added", "intervention_raised"]


async def test_quantity_limits_per_product_and_per_sale(tmp_path: Path) -> None:
    path = config_path(tmp_path, max_items_per_sale=5, quantity_limits={"P010": 2})
    async with running(path) as app:
        badges = await staff(app)
        lane = app.lanes["1"]
        for _ in range(3):
            await scan(app, CHIPS)
        found = lane.snapshot()["intervention"]
        assert found["reason"] == "quantity_limit"
        assert (found["detail"]["units"], found["detail"]["limit"]) == (3, 2)
        await scan(app, f"BADGE:{badges['cashier']}")
        await scan(app, CHIPS)                        # approved for this cart
        assert not lane.snapshot()["locked"]
        await scan(app, WATER)
        await scan(app, WATER)                        # six items: over the per-sale limit
        assert lane.snapshot()["intervention"]["detail"]["per"] == "sale"


async def test_a_rescan_of_something_not_in_the_cart_is_recorded(tmp_path: Path) -> None:
    path = config_path(tmp_path, rescan_audit_rate=1.0, rescan_items=2)
    async with running(path) as app:
        badges = await staff(app)
        lane = app.lanes["1"]
        await scan(app, WATER)
        await scan(app, WATER)
        refused = await scan(app, WECHAT_CODE)        # paying draws the check
        assert refused.code == "intervention_raised" and refused.data["reason"] == "rescan_audit"
        items = refused.data["detail"]["items"]
        assert [i["product_id"] for i in items] == ["P001", "P001"]
        assert (await scan(app, WATER)).code == "lane_locked"     # not before the attendant
        await scan(app, f"BADGE:{badges['cashier']}")
        stray = await scan(app, CHIPS)
        assert (stray.code, stray.ok, stray.data["en"]) == (
            "audit_rescan", False, "This item is not in the cart")
        progress = await scan(app, WATER)
        assert (progress.data["done"], progress.data["of"]) == (1, 2)
        done = await scan(app, WATER)
        assert done.code == "intervention_cleared"
        row = await app.store.fetchone("SELECT outcome FROM interventions")
        assert row is not None
        assert json.loads(row["outcome"]) == {"rescanned": 2, "of": 2, "mismatches": [CHIPS],
                                              "forced": False}
        # Drawn once per cart: paying again goes ahead.
        assert await lane.pay_cash(1_000)


async def test_the_attendant_call_is_not_raised_twice(tmp_path: Path) -> None:
    async with running(config_path(tmp_path)) as app:
        lane = app.lanes["1"]
        await lane.call_attendant("help")
        await lane.call_attendant("help!")
        rows = await app.store.fetchall("SELECT id FROM interventions")
        assert len(rows) == 1
        nothing = await app.lanes["2"].clear_intervention(PIN, "pin")
        assert nothing.data["reason"] == "nothing_to_clear"


async def test_coupons_and_loyalty_tenders_wait_for_the_attendant_too(tmp_path: Path) -> None:
    """A locked lane takes no money-changing action from the loyalty endpoints either."""
    async with running(config_path(tmp_path)) as app:
        await staff(app)
        lane = app.lanes["1"]
        await scan(app, WATER)
        await lane.call_attendant("help")
        actions: list[Callable[[], Awaitable[LaneEvent]]] = [
            lambda: lane.apply_coupon_code("WELCOME10"), lambda: lane.use_points(10),
            lambda: lane.use_stored_value(100), lane.clear_loyalty_tenders,
            lambda: lane.remove_coupon("WELCOME10")]
        for action in actions:
            with pytest.raises(LaneError, match="attendant"):
                await action()
        assert not lane.cart.loyalty.coupon_codes and lane.snapshot()["locked"]
        await lane.clear_intervention(PIN, "pin")
        assert (await lane.apply_coupon_code("WELCOME10")).code in ("coupon_applied",
                                                                    "coupon_rejected")
