"""Learned item weights: they converge on the item's weight and an outlier does not move them."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from edge.checkout_config import CheckoutConfig
from edge.learned_weights import (
    Sample,
    all_learned,
    estimate,
    learned_weight,
    record_sample,
    weighted_median,
)
from edge.seed import seed_demo
from edge.store import Store

CONFIG = CheckoutConfig(learn_min_samples=5, attendant_sample_weight=3, learn_window=50,
                        learn_tolerance_pct=10, learn_min_tolerance_g=10)


def test_weighted_median_takes_weights_into_account() -> None:
    assert weighted_median([(100, 1), (200, 1), (300, 1)]) == 200
    assert weighted_median([(100, 1), (200, 1), (300, 5)]) == 300
    assert weighted_median([(100, 2), (200, 2)]) == 100


def test_shopper_samples_converge_on_the_true_weight() -> None:
    rng = random.Random(7)
    samples = [Sample(430 + rng.randint(-6, 6), 1) for _ in range(30)]
    found = estimate(samples, CONFIG)
    assert found is not None and found.usable
    assert abs(found.grams - 430) <= 3
    assert found.tolerance >= 43          # at least 10 % of the item


def test_outliers_do_not_move_the_estimate() -> None:
    clean = [Sample(430 + d, 1) for d in (-3, -1, 0, 1, 2, 4, -2, 3)]
    # Two items bagged for one scan, a shopper's handbag, a scale glitch.
    dirty = [*clean, Sample(860, 1), Sample(2400, 1), Sample(12, 1)]
    before, after = estimate(clean, CONFIG), estimate(dirty, CONFIG)
    assert before is not None and after is not None
    assert abs(after.grams - before.grams) <= 1
    assert after.tolerance <= 215         # never looser than half the item


def test_an_attendants_sample_counts_more_than_a_shoppers() -> None:
    shoppers = [Sample(500, 1), Sample(505, 1), Sample(900, 1), Sample(905, 1)]
    assert estimate(shoppers, CONFIG) is not None
    with_attendant = estimate([*shoppers, Sample(502, 3)], CONFIG)
    assert with_attendant is not None and with_attendant.grams in (500, 502, 505)
    # One attendant sample and two shopper samples weigh 5: enough to be used.
    enough = estimate([Sample(502, 3), Sample(500, 1), Sample(504, 1)], CONFIG)
    assert enough is not None and enough.usable
    assert not estimate([Sample(500, 1)] * 4, CONFIG).usable  # type: ignore[union-attr]


async def test_samples_are_kept_per_product_within_the_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await store.write(seed_demo)
        config = CheckoutConfig(learn_window=5, learn_min_samples=3)

        def write(conn: sqlite3.Connection) -> None:
            for grams in (9000, 9000, 410, 412, 411, 409, 410):   # two early outliers fall off
                record_sample(conn, "F001", grams, source="shopper", lane="1", window=5)
            record_sample(conn, "F002", 120, source="attendant", lane="1", window=5)

        await store.write(write)
        rows = await store.fetchall("SELECT grams FROM weight_samples WHERE product_id = 'F001'")
        assert sorted(r["grams"] for r in rows) == [409, 410, 410, 411, 412]
        apples = await learned_weight(store, "F001", config)
        assert apples is not None and apples.grams == 410 and apples.usable
        listed = {row["product_id"]: row for row in await all_learned(store, config)}
        assert listed["F002"]["name"] == "香蕉" and listed["F002"]["attendant_samples"] == 1
        assert listed["F002"]["usable"] and listed["F001"]["samples"] == 5
    finally:
        await store.close()
