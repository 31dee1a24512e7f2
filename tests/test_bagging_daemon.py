"""The bagging-area checks of a running kiosk, with the simulated scale firmware on a pty:
its control socket sets the weight, the real scale driver reads it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.app import EdgeApp
from edge.errors import LaneError
from edge.learned_weights import all_learned
from tests.checkout_support import Recorder, config_path, running, scan, staff, weigh
from tests.helpers import BARCODES, CHIPS, WATER, staff_lane

COFFEE = BARCODES["P030"]         # no expected weight in these tests: it is learned


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    async with running(config_path(tmp_path, scale=True, learn_min_samples=3)) as app:
        await weigh(app, "zero")
        await asyncio.sleep(0.1)              # the first reading sets the empty bag's weight
        yield app


async def test_an_item_bagged_right_is_ok(app: EdgeApp) -> None:
    recorder = Recorder(app)
    await scan(app, WATER)
    prompt = await recorder.wait("place_item_in_bag")
    assert (prompt.data["grams"], prompt.data["tolerance"]) == (570, 28)
    waiting = recorder.snapshot()["expected_weight"]
    assert (waiting["grams"], waiting["tolerance"]) == (570, 28) and waiting["waiting_since"]
    await weigh(app, "575")
    ok = await recorder.wait("weight_ok")
    assert ok.data["grams"] == 575
    assert recorder.snapshot()["expected_weight"] is None and not recorder.snapshot()["locked"]


async def test_a_wrong_weight_locks_the_kiosk_until_an_attendant_looks(app: EdgeApp) -> None:
    badges = await staff(app)
    recorder = Recorder(app)
    await scan(app, WATER)
    await weigh(app, "1140")                  # two bottles, one scanned
    await recorder.wait("intervention_raised")
    found = recorder.snapshot()["intervention"]
    assert found["reason"] == "weight_mismatch"
    detail = found["detail"]
    assert (detail["expected_g"], detail["measured_g"], detail["cause"]) == (
        570, 1140, "wrong_weight")
    assert (await scan(app, CHIPS)).code == "lane_locked"
    await weigh(app, "571")                   # the attendant takes the second bottle out ...
    await asyncio.sleep(0.1)
    assert (await scan(app, f"BADGE:{badges['cashier']}")).code == "intervention_cleared"
    recorder.clear()
    await scan(app, CHIPS)                    # ... and the bag as it is now is the baseline
    await weigh(app, "656")
    await recorder.wait("weight_ok")
    assert not recorder.snapshot()["locked"]


async def test_weight_without_a_scan_is_unexpected(app: EdgeApp) -> None:
    recorder = Recorder(app)
    await scan(app, WATER)
    await weigh(app, "570")
    await recorder.wait("weight_ok")
    await weigh(app, "1000")                  # something went into the bag unscanned
    await recorder.wait("intervention_raised")
    found = recorder.snapshot()["intervention"]
    assert found["reason"] == "unexpected_weight" and found["detail"]["grams"] == 430
    assert found["en"] == "Unexpected item in the bagging area; an attendant is coming"


async def test_an_item_taken_out_of_the_bag_is_noticed(app: EdgeApp) -> None:
    recorder = Recorder(app)
    await scan(app, WATER)
    await weigh(app, "570")
    await recorder.wait("weight_ok")
    await weigh(app, "zero")
    await recorder.wait("intervention_raised")
    assert recorder.snapshot()["intervention"]["reason"] == "item_removed"
    with pytest.raises(LaneError):
        await app.lanes["1"].pay_cash(1000)


async def test_motion_is_ignored_until_the_scale_settles(app: EdgeApp) -> None:
    recorder = Recorder(app)
    await scan(app, WATER)
    await weigh(app, "1400 motion")
    await asyncio.sleep(0.5)                  # long past the grace, but never settled
    assert "intervention_raised" not in recorder.codes
    assert recorder.snapshot()["expected_weight"]["grams"] == 570
    await weigh(app, "566")
    await recorder.wait("weight_ok")
    assert "intervention_raised" not in recorder.codes


async def test_an_item_never_bagged_times_out(app: EdgeApp) -> None:
    recorder = Recorder(app)
    await scan(app, WATER)
    refused = await scan(app, CHIPS)          # the next item waits for the last one
    assert (refused.code, refused.ok) == ("place_item_in_bag", False)
    assert refused.data["en"] == "Place the last item in the bagging area first"
    with pytest.raises(LaneError, match="bagging area"):
        await app.lanes["1"].pay_cash(1000)
    await recorder.wait("intervention_raised")            # bag_timeout_ms = 1500
    found = recorder.snapshot()["intervention"]
    assert found["reason"] == "weight_mismatch" and found["detail"]["cause"] == "timeout"


async def test_an_item_removed_from_the_cart_must_leave_the_bag(app: EdgeApp) -> None:
    recorder = Recorder(app)
    lane = app.lanes["1"]
    await scan(app, WATER)
    await weigh(app, "570")
    await recorder.wait("weight_ok")
    recorder.clear()
    await lane.remove_line(lane.cart.lines[0].line_id)
    prompt = await recorder.wait("place_item_in_bag")
    assert prompt.data["grams"] == -570 and prompt.data["en"] == \
        "Please take 农夫山泉 550ml out of the bagging area"
    await weigh(app, "zero")
    await recorder.wait("weight_ok")
    assert not recorder.snapshot()["locked"]


async def test_paid_bags_leave_freely_and_the_next_shopper_starts_clean(app: EdgeApp) -> None:
    recorder = Recorder(app)
    await scan(app, WATER)
    await weigh(app, "570")
    await recorder.wait("weight_ok")
    await app.lanes["1"].pay_cash(1000)
    await weigh(app, "zero")                  # the shopper takes the bag
    await asyncio.sleep(0.5)
    assert not recorder.snapshot()["locked"]


async def test_weights_are_learned_and_then_checked(app: EdgeApp) -> None:
    badges = await staff(app)
    await app.store.write(lambda conn: conn.execute(
        "UPDATE products SET expected_weight_g = NULL, weight_tolerance_g = NULL"
        " WHERE id = 'P030'"))
    recorder = Recorder(app)
    bag = 0
    for grams in (262, 258, 260):             # three shoppers: not yet enough to check
        recorder.clear()
        await scan(app, COFFEE)
        assert (await recorder.wait("place_item_in_bag")).data["grams"] is None
        bag += grams
        await weigh(app, str(bag))
        await recorder.wait("weight_ok")
    [learned] = await all_learned(app.store, app.config.checkout)
    assert (learned["grams"], learned["usable"]) == (260, True)
    recorder.clear()
    await scan(app, COFFEE)                   # now the learned weight is checked
    prompt = await recorder.wait("place_item_in_bag")
    assert prompt.data["grams"] == 260 and prompt.data["tolerance"] == 26
    await weigh(app, str(bag + 520))          # a second pack went in too
    await recorder.wait("intervention_raised")
    assert recorder.snapshot()["intervention"]["detail"]["source"] == "learned"
    await weigh(app, str(bag + 259))          # the attendant takes one out, then clears
    await asyncio.sleep(0.1)
    await scan(app, f"BADGE:{badges['supervisor']}")
    rows = await app.store.fetchall("SELECT grams, source FROM weight_samples ORDER BY id")
    assert [(r["grams"], r["source"]) for r in rows][-1] == (259, "attendant")


async def test_a_staffed_lane_does_not_weigh(tmp_path: Path) -> None:
    path = config_path(tmp_path, extra="""
[[devices]]
id = "scale-2"
driver = "sim_scale"
lane = "2"
[devices.options]
control = "{run_dir}/scale-2.sock"
poll_interval_ms = 20
""")
    async with running(path) as app:
        await staff_lane(app, "2")  # a staffed lane sells once a cashier is in
        assert (await scan(app, WATER, lane="2")).code == "item_added"
        assert (await scan(app, CHIPS, lane="2")).code == "item_added"
        assert app.lanes["2"].snapshot()["expected_weight"] is None
