"""Item weights learned at the bagging scale, for products the catalog gives none.

Each accepted bagging of such a product leaves a sample: a shopper's counts 1, one an
attendant verified (by clearing an intervention) counts ``attendant_sample_weight``. The
estimate is the weighted median of the most recent ``learn_window`` samples, and its
tolerance grows with their weighted median absolute deviation: a shopper who bagged two
items at once, or their own shopping bag, moves neither. It is used once the samples weigh
``learn_min_samples`` in total.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .cart import utc_now
from .checkout_config import CheckoutConfig
from .store import Store

_MAD_TO_SIGMA = 1.4826   # MAD of a normal distribution, scaled to its standard deviation


@dataclass(frozen=True, slots=True)
class Sample:
    grams: int
    weight: int


@dataclass(frozen=True, slots=True)
class LearnedWeight:
    grams: int
    tolerance: int
    samples: int
    weight: int
    usable: bool

    def as_dict(self) -> dict[str, Any]:
        return {"grams": self.grams, "tolerance": self.tolerance, "samples": self.samples,
                "weight": self.weight, "usable": self.usable}


def weighted_median(values: Sequence[tuple[float, int]]) -> float:
    """Return the weighted median of ``(value, weight)`` pairs (lower median on a tie)."""
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    running = 0
    for value, weight in ordered:
        running += weight
        if 2 * running >= total:
            return value
    raise ValueError("no values")


def estimate(samples: Iterable[Sample], config: CheckoutConfig) -> LearnedWeight | None:
    """Return the learned weight of a product from its samples (None without any)."""
    found = [s for s in samples if s.grams > 0 and s.weight > 0]
    if not found:
        return None
    median = weighted_median([(s.grams, s.weight) for s in found])
    mad = weighted_median([(abs(s.grams - median), s.weight) for s in found])
    tolerance = max(config.learn_min_tolerance_g,
                    math.ceil(median * config.learn_tolerance_pct / 100),
                    math.ceil(3 * _MAD_TO_SIGMA * mad))
    # However scattered the samples, a check looser than half the item is no check.
    tolerance = min(tolerance, max(config.learn_min_tolerance_g, int(median) // 2))
    weight = sum(s.weight for s in found)
    return LearnedWeight(round(median), tolerance, len(found), weight,
                         weight >= config.learn_min_samples)


def record_sample(conn: sqlite3.Connection, product_id: str, grams: int, *, source: str,
                  lane: str, window: int) -> None:
    """Keep one sample inside the caller's transaction, dropping those past the window."""
    conn.execute("INSERT INTO weight_samples (product_id, grams, source, lane, at)"
                 " VALUES (?, ?, ?, ?, ?)", (product_id, grams, source, lane, utc_now()))
    conn.execute("DELETE FROM weight_samples WHERE product_id = ? AND id NOT IN (SELECT id"
                 " FROM weight_samples WHERE product_id = ? ORDER BY id DESC LIMIT ?)",
                 (product_id, product_id, window))


def _samples(rows: Iterable[sqlite3.Row], config: CheckoutConfig) -> list[Sample]:
    return [Sample(int(r["grams"]),
                   config.attendant_sample_weight if r["source"] == "attendant" else 1)
            for r in rows]


async def learned_weight(store: Store, product_id: str,
                         config: CheckoutConfig) -> LearnedWeight | None:
    rows = await store.fetchall("SELECT grams, source FROM weight_samples WHERE product_id = ?"
                                " ORDER BY id DESC LIMIT ?", (product_id, config.learn_window))
    return estimate(_samples(rows, config), config)


async def all_learned(store: Store, config: CheckoutConfig) -> list[dict[str, Any]]:
    """Return every product with samples and its estimate, for the console."""
    rows = await store.fetchall(
        "SELECT s.product_id, s.grams, s.source, p.name FROM weight_samples s"
        " LEFT JOIN products p ON p.id = s.product_id ORDER BY s.product_id, s.id DESC")
    by_product: dict[str, list[sqlite3.Row]] = {}
    names: dict[str, str] = {}
    for row in rows:
        by_product.setdefault(row["product_id"], []).append(row)
        names[row["product_id"]] = row["name"] or row["product_id"]
    result = []
    for product_id, product_rows in by_product.items():
        found = estimate(_samples(product_rows[: config.learn_window], config), config)
        if found is not None:
            result.append({"product_id": product_id, "name": names[product_id],
                           "attendant_samples": sum(r["source"] == "attendant"
                                                    for r in product_rows),
                           **found.as_dict()})
    return result
