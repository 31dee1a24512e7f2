"""A lane session as shoppers and cashiers see it: scans, carts, restarts and sales."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import LaneError, SaleRefused
from edge.lane import LaneSession
from edge.sales import Tender
from edge.scan_router import route
from edge.seed import gtin13, seed_demo
from edge.store import Store
from tests.helpers import (
    BEER,
    CHIPS,
    MEMBER_CODE,
    MILK,
    RICE,
    WATER,
    fill_disk,
    make_lane,
    small_disk,
)

RULES = load_config(None).scan


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "edge.db", busy_timeout_ms=50)
    await store.open()
    await store.write(seed_demo)
    yield store
    await store.close()


async def scan(lane: LaneSession, text: str) -> str:
    event = await lane.handle_scan(route(text, RULES))
    return event.code


async def test_scanning_builds_a_priced_cart(store: Store) -> None:
    lane = make_lane(store)
    assert await scan(lane, WATER) == "item_added"
    assert await scan(lane, WATER) == "item_added"
    assert await scan(lane, CHIPS) == "item_added"
    lines = lane.snapshot()["lines"]
    assert [(ln["name"], ln["qty"]) for ln in lines] == [
        ("农夫山泉 550ml", 2), ("乐事薯片 原味 70g", 1)]
    # Chips are 9折 in the demo store: 750 - 75.
    assert lane.priced.total_fen == 2 * 200 + 750 - 75
    assert [d.label for d in lane.priced.discounts] == ["零食9折"]


async def test_unknown_code_says_item_not_found_with_the_code(store: Store) -> None:
    lane = make_lane(store)
    unknown = gtin13("690999999999")
    event = await lane.handle_scan(route(unknown, RULES))
    assert event.code == "item_not_found" and not event.ok
    assert event.data["code"] == unknown
    assert lane.cart.empty


async def test_bad_check_digit_is_rejected_with_the_reason(store: Store) -> None:
    lane = make_lane(store)
    good = WATER
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    event = await lane.handle_scan(route(bad, RULES))
    assert event.code == "scan_rejected"
    assert "check digit" in event.message
    assert lane.cart.empty


@pytest.mark.parametrize("text", ["1" * 257, "690123\x07450001", "abc\x00def"])
async def test_overlong_or_control_characters_are_rejected(store: Store, text: str) -> None:
    lane = make_lane(store)
    event = await lane.handle_scan(route(text, RULES))
    assert event.code == "scan_rejected" and not event.ok
    assert lane.cart.empty


async def test_weighed_goods_from_scale_labels(store: Store) -> None:
    lane = make_lane(store)
    price_label = gtin13("221000101280")   # apples, the scale printed ¥12.80
    weight_label = gtin13("232000100532")  # pork belly, 532 g at ¥35.80/kg
    assert await scan(lane, price_label) == "item_added"
    assert await scan(lane, weight_label) == "item_added"
    lines = lane.snapshot()["lines"]
    assert lines[0]["base_fen"] == 1280
    assert lines[1]["weight_g"] == 532 and lines[1]["base_fen"] == (532 * 3580 + 500) // 1000


async def test_member_price_applies_as_soon_as_the_member_is_known(store: Store) -> None:
    lane = make_lane(store)
    await scan(lane, MILK)
    assert lane.priced.total_fen == 6500
    assert await scan(lane, MEMBER_CODE) == "member_identified"
    assert lane.priced.total_fen == 5900
    assert lane.snapshot()["member"]["name"] == "张伟"


async def test_payment_code_with_an_empty_cart_is_a_message_not_a_crash(store: Store) -> None:
    lane = make_lane(store)
    event = await lane.handle_scan(route("134567890123456789", RULES))
    assert event.code == "payment_cart_empty" and not event.ok


async def test_open_cart_survives_a_restart(store: Store) -> None:
    lane = make_lane(store)
    await scan(lane, RICE)
    await scan(lane, MEMBER_CODE)
    await scan(lane, WATER)
    before = lane.snapshot()

    again = make_lane(store)
    await again.restore()
    after = again.snapshot()
    assert after["cart_id"] == before["cart_id"]
    assert after["lines"] == before["lines"]
    assert after["member"] == before["member"]
    assert after["total_fen"] == before["total_fen"]


async def test_quantity_remove_void_suspend_resume(store: Store) -> None:
    lane = make_lane(store)
    await scan(lane, WATER)
    await scan(lane, BEER)
    water, beer = (ln["line_id"] for ln in lane.snapshot()["lines"])
    assert lane.snapshot()["lines"][1]["age_restricted"]
    await lane.set_quantity(water, 5)
    assert lane.cart.lines[0].qty == 5
    await lane.remove_line(beer)
    assert len(lane.cart.lines) == 1
    with pytest.raises(LaneError):
        await lane.remove_line("no-such-line")

    parked = await lane.suspend()
    assert lane.cart.empty
    await scan(lane, CHIPS)
    with pytest.raises(LaneError, match="finish or suspend"):
        await lane.resume(parked)
    await lane.void("shopper left")
    await lane.resume(parked)
    assert [(ln.name, ln.qty) for ln in lane.cart.lines] == [("农夫山泉 550ml", 5)]
    voided = await store.fetchall("SELECT payload FROM outbox WHERE type = 'cart.voided'")
    assert json.loads(voided[0]["payload"])["reason"] == "shopper left"


async def test_a_sale_is_written_whole_with_its_outbox_event(store: Store) -> None:
    lane = make_lane(store)
    for code in (RICE, MILK, WATER, WATER, WATER, CHIPS):
        await scan(lane, code)
    await scan(lane, MEMBER_CODE)
    total = lane.priced.total_fen
    sale = await lane.pay_cash(total + 1000)
    assert sale.change_fen == 1000 and sale.receipt_no == 1
    assert sale.points_earned == total // 100
    assert lane.cart.empty

    row = await store.fetchone("SELECT * FROM sales WHERE id = ?", (sale.sale_id,))
    assert row is not None and row["total_fen"] == total and row["member_id"] == "M0001"
    lines = await store.fetchall("SELECT * FROM sale_lines WHERE sale_id = ?", (sale.sale_id,))
    assert sum(r["net_fen"] for r in lines) == total
    ledger = {r["account"]: r["delta"] for r in await store.fetchall(
        "SELECT account, delta FROM ledger WHERE sale_id = ?", (sale.sale_id,))}
    assert ledger == {"drawer:1:cash": total, "member:M0001:points": total // 100}
    event = await store.fetchone("SELECT * FROM outbox WHERE seq = ?", (sale.outbox_seq,))
    assert event is not None and event["event_id"] == f"T01:lane-pc-1:{sale.outbox_seq}"
    payload = json.loads(event["payload"])
    assert payload["sale_id"] == sale.sale_id and payload["total_fen"] == total
    assert len(payload["lines"]) == 4 and payload["receipt_no"] == 1
    assert await store.fetchone("SELECT 1 FROM open_carts WHERE cart_id = ?",
                                (row["cart_id"],)) is None


async def test_receipt_numbers_run_without_gaps_per_lane(store: Store) -> None:
    lanes = [make_lane(store, "1"), make_lane(store, "2")]
    numbers: dict[str, list[int]] = {"1": [], "2": []}
    for i in range(6):
        lane = lanes[i % 2]
        await scan(lane, WATER)
        if i == 2:  # a refused payment in between must not burn a number
            with pytest.raises(SaleRefused, match="short"):
                await lane.pay_cash(1)
        numbers[lane.lane_id].append((await lane.pay_cash(500)).receipt_no)
    assert numbers == {"1": [1, 2, 3], "2": [1, 2, 3]}


async def test_tender_rules(store: Store) -> None:
    lane = make_lane(store)
    with pytest.raises(SaleRefused, match="empty"):
        await lane.pay_cash(100)
    await scan(lane, WATER)
    with pytest.raises(SaleRefused, match="only cash"):
        await lane.complete([Tender("stored_value", 500)])
    with pytest.raises(SaleRefused, match="positive"):
        await lane.complete([Tender("cash", 0)])
    assert not lane.cart.empty


async def test_a_locked_database_refuses_the_sale_and_keeps_the_cart(
    store: Store, tmp_path: Path
) -> None:
    lane = make_lane(store)
    await scan(lane, RICE)
    await scan(lane, WATER)
    before = lane.snapshot()
    other = sqlite3.connect(tmp_path / "edge.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # e.g. a maintenance script holding the file
    try:
        with pytest.raises(SaleRefused, match="locked"):
            await lane.pay_cash(10000)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert lane.snapshot()["lines"] == before["lines"]
    assert lane.last_event is not None and lane.last_event.code == "sale_refused"
    assert (await store.fetchone("SELECT count(*) FROM sales"))[0] == 0  # type: ignore[index]
    assert (await store.fetchone("SELECT count(*) FROM outbox"))[0] == 0  # type: ignore[index]
    sale = await lane.pay_cash(10000)  # the lock is gone: the same cart sells
    assert sale.receipt_no == 1


async def test_a_full_disk_refuses_the_sale_and_keeps_the_cart(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        store = Store(disk / "edge.db")
        await store.open()
        await store.write(seed_demo)
        try:
            lane = make_lane(store)
            for code in (RICE, RICE, CHIPS, MILK):
                await scan(lane, code)
            before = lane.snapshot()
            filler = fill_disk(disk)
            with pytest.raises(SaleRefused, match="disk is full"):
                await lane.pay_cash(50000)
            # A scan while the disk is full is refused too, and the cart stays as shown.
            event = await lane.handle_scan(route(WATER, RULES))
            assert event.code == "store_error" and "disk is full" in event.message
            assert lane.snapshot()["lines"] == before["lines"]
            count = await store.fetchone("SELECT count(*) FROM sales")
            assert count is not None and count[0] == 0

            filler.unlink()  # space returns: the same cart sells, once
            sale = await lane.pay_cash(50000)
            assert sale.total_fen == before["total_fen"] and sale.receipt_no == 1
            count = await store.fetchone("SELECT count(*) FROM sale_lines")
            assert count is not None and count[0] == 3
        finally:
            await store.close()


async def test_a_screen_subscribed_to_the_lane_sees_every_change(store: Store) -> None:
    lane = make_lane(store)
    screen = lane.subscribe()
    await scan(lane, WATER)
    await scan(lane, MEMBER_CODE)
    first, second = screen.get_nowait(), screen.get_nowait()
    assert [ln["name"] for ln in first["lines"]] == ["农夫山泉 550ml"]
    assert second["member"]["name"] == "张伟"
    lane.unsubscribe(screen)
    await scan(lane, WATER)
    assert screen.empty()
