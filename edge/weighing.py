"""The lane guard's side of the bagging scale: readings in, expectations out, outcomes acted on.

``edge.bagging`` decides; this part feeds it (scans, readings, the clock) from one task per
kiosk and turns its outcomes into events, interventions and learned-weight samples. Every
step runs under the lane's lock, so a reading and a scan never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drivers.base import WeightReading

from .bagging import Bagging, Expectation, Mismatch, Outcome, Unexplained, WeightOk
from .cart import CartLine, utc_now
from .intervention_rules import event
from .learned_weights import learned_weight, record_sample
from .scan_router import ProductScan, RoutedScan, WeighedItemScan

if TYPE_CHECKING:
    from .checkout_config import CheckoutConfig
    from .interventions import CheckoutServices, _Jobs
    from .lane import LaneEvent, LaneSession

_LOGGER = logging.getLogger(__name__)


class WeighingMixin:
    """Bagging-scale checks for ``LaneGuard`` (which provides the attributes below)."""

    lane: LaneSession
    services: CheckoutServices
    settings: CheckoutConfig
    bagging: Bagging | None
    active: list[Any]
    _jobs: _Jobs
    _waiting_since: str | None
    raise_intervention: Callable[..., Any]

    def weight(self, reading: WeightReading) -> None:
        if self.bagging is None:
            return
        queue = self._jobs.readings
        if queue.full():
            queue.get_nowait()  # readings come on change only; the newest one matters
        queue.put_nowait(reading)

    def wake(self) -> None:
        """Make the weight task look at its deadlines again."""
        if self.bagging is not None and not self._jobs.readings.full():
            self._jobs.readings.put_nowait(None)

    def bag_first(self, scan: RoutedScan) -> LaneEvent | None:
        """Refuse the next item while the last one is not in the bag yet."""
        if self.bagging is None or self.bagging.expectation is None or \
                not isinstance(scan, ProductScan | WeighedItemScan):
            return None
        return event("place_item_in_bag", "bag_first", ok=False)

    async def expect(self, line: CartLine, units: int) -> list[LaneEvent]:
        """Wait for ``units`` of ``line`` to go into (or, negative, out of) the bag."""
        if self.bagging is None or units == 0:
            return []
        grams, tolerance, source = await self._item_weight(line)
        now, count = self.services.clock(), abs(units)
        sign = 1 if units > 0 else -1
        expectation = Expectation(
            line.product_id, line.name, sign * (grams or 1) * (1 if line.weight_g else count),
            tolerance * (1 if line.weight_g else count), now,
            now + self.bagging.rules.bag_timeout_s, source, units)
        self._waiting_since = utc_now()
        key = "place_item_in_bag" if units > 0 else "take_item_out_of_bag"
        events = [event("place_item_in_bag", key, ok=True, product_id=line.product_id,
                        name=line.name, grams=None if expectation.learn else expectation.grams,
                        tolerance=None if expectation.learn else expectation.tolerance)]
        for outcome in self.bagging.expect(expectation):
            events += await self._outcome(outcome)
        self.wake()
        return events

    async def _item_weight(self, line: CartLine) -> tuple[int | None, int, str]:
        """Return (grams per unit, tolerance, where the weight comes from)."""
        default = self.settings.default_tolerance_g
        if line.weight_g:
            return line.weight_g, max(default, line.weight_g // 50), "label"
        product = await self.services.catalog.product(line.product_id)
        if product is not None and product.expected_weight_g:
            tolerance = product.weight_tolerance_g
            return product.expected_weight_g, default if tolerance is None else tolerance, \
                "catalog"
        if product is not None and product.sold_by_weight:
            return None, 0, "variable"
        learned = await learned_weight(self.services.store, line.product_id, self.settings)
        if learned is not None and learned.usable:
            return learned.grams, learned.tolerance, "learned"
        return None, 0, "unknown"

    async def _weight_loop(self) -> None:
        assert self.bagging is not None
        while True:
            deadline = None if self.active else self.bagging.next_deadline()
            reading: WeightReading | None = None
            with contextlib.suppress(TimeoutError):
                if deadline is None:
                    reading = await self._jobs.readings.get()
                else:
                    async with asyncio.timeout(max(0.0, deadline - self.services.clock())):
                        reading = await self._jobs.readings.get()
            await self.lane.run_hook(functools.partial(self._weigh, reading))

    async def _weigh(self, reading: WeightReading | None) -> list[LaneEvent]:
        assert self.bagging is not None
        now = self.services.clock()
        outcomes: list[Outcome] = []
        if reading is not None:
            outcomes += self.bagging.reading(reading.grams, reading.state, now)
        if not self.active:  # a locked lane's clock stands still: nobody is rushed
            outcomes += self.bagging.tick(now)
        events: list[LaneEvent] = []
        for outcome in outcomes:
            events += await self._outcome(outcome)
        return events

    async def _outcome(self, outcome: Outcome) -> list[LaneEvent]:
        if isinstance(outcome, WeightOk):
            expectation = outcome.expectation
            if expectation.source in ("unknown", "learned") and expectation.units > 0 < \
                    outcome.delta:
                grams = outcome.delta // expectation.units
                await self.services.store.write(lambda conn: record_sample(
                    conn, expectation.product_id, grams, source="shopper",
                    lane=self.lane.lane_id, window=self.settings.learn_window))
            self._waiting_since = None
            if self.lane.cart.empty and self.bagging is not None:  # the bag is the shopper's
                self.bagging.arm(False)
            return [event("weight_ok", "weight_ok", ok=True, product_id=expectation.product_id,
                          grams=outcome.delta)]
        self._waiting_since = None
        if isinstance(outcome, Mismatch):
            expectation = outcome.expectation
            return [await self.raise_intervention("weight_mismatch", {
                "product_id": expectation.product_id, "name": expectation.name,
                "expected_g": None if expectation.learn else expectation.grams,
                "tolerance_g": None if expectation.learn else expectation.tolerance,
                "measured_g": outcome.delta, "cause": outcome.cause,
                "source": expectation.source, "units": expectation.units})]
        assert isinstance(outcome, Unexplained)
        return [await self.raise_intervention(outcome.reason, {"grams": outcome.delta})]
