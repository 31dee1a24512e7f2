"""What a lane session asks its checkout rules at each step; the defaults change nothing.

``LaneSession`` owns the cart and calls these hooks, always while holding its lock, at the few
points where self-checkout security has a say: a scan, a weight reading, a cart change, the
start of a payment and a committed sale. ``edge.interventions.LaneGuard`` (kiosk and staffed
lanes) and ``edge.exit_station.ExitStation`` (exit lanes) fill them in; a lane without either
behaves exactly as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from drivers.base import WeightReading

from .errors import LaneError

if TYPE_CHECKING:
    from .cart import Cart
    from .lane import LaneEvent
    from .sales import CompletedSale, SalePlan
    from .scan_router import RoutedScan

Dispatch = Callable[["RoutedScan"], Awaitable["LaneEvent"]]


class LaneHooks:
    """A lane's checkout rules. Every method runs under the lane's lock unless it says not."""

    async def scan(self, scan: RoutedScan, dispatch: Dispatch,
                   follow: list[LaneEvent]) -> LaneEvent:
        """Decide a scan: refuse it, handle it, or ``dispatch`` it to the cart.

        Events to publish after the scan's own (an intervention, "place the item in the
        bag") go to ``follow``.
        """
        return await dispatch(scan)

    def weight(self, reading: WeightReading) -> None:
        """Take a bagging-scale reading (called without the lock; must not block)."""

    def check_unlocked(self) -> None:
        """Raise ``LaneError`` when the lane is locked for an attendant."""

    async def cart_changed(self, old: Cart, new: Cart) -> list[LaneEvent]:
        """React to a cart change made by a cart action (not a scan); return events."""
        return []

    async def before_payment(self) -> LaneEvent | None:
        """Return why a payment may not start now (the caller publishes it), or None."""
        return None

    def sale_committed(self, sale: CompletedSale, plan: SalePlan) -> dict[str, Any]:
        """Note a committed sale; return extra data for its ``sale_completed`` event."""
        return {}

    def view(self) -> dict[str, Any]:
        """Return the fields this adds to the lane's snapshot."""
        return {"intervention": None, "locked": False, "expected_weight": None}

    def sale_view(self, sale_id: str) -> dict[str, Any]:
        """Return the fields this adds to the snapshot's ``last_sale``."""
        return {"receipt_qr": None, "printed": False, "print_error": None}

    async def call_attendant(self, reason_text: str) -> list[LaneEvent]:
        raise LaneError("this lane has no attendant rules")

    async def clear_intervention(self, badge_or_pin: str, kind: str, *,
                                 address: str | None = None) -> list[LaneEvent]:
        raise LaneError("this lane has no attendant rules")

    async def reprint(self, sale_id: str, actor: str) -> list[LaneEvent]:
        """Print a sale's receipt again (called without the lane's lock: printing is slow)."""
        raise LaneError("this lane prints no receipts")

    async def run(self) -> None:
        """Do the background work (timers, printing) until cancelled."""
