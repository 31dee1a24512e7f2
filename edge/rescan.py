"""The random rescan check at a kiosk: an attendant rescans the items the screen lists.

Before payment a cart may be picked (``rescan_audit_rate``); the lane locks with the units to
rescan. The attendant badges in (or enters a PIN), then scans each listed item: scans now
check the cart instead of adding to it. When every listed unit is matched the intervention
clears itself in the attendant's name; an item that is not in the cart is recorded; badging
again ends the check early, recorded as forced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .intervention_rules import Intervention, event, match_rescan
from .scan_router import ProductScan, RoutedScan, WeighedItemScan

if TYPE_CHECKING:
    from .interventions import CheckoutServices
    from .lane import LaneEvent, LaneSession
    from .users import User


class RescanMixin:
    """Rescan checks for ``LaneGuard`` (which provides the attributes below)."""

    lane: LaneSession
    services: CheckoutServices
    active: list[Intervention]
    clear: Callable[..., Any]
    update_detail: Callable[..., Any]

    def rescanning(self) -> bool:
        """Whether an attendant is rescanning now (scans check the cart, not add to it)."""
        return bool(self.active) and self.active[0].reason == "rescan_audit" and \
            "attendant" in self.active[0].detail

    async def start_rescan(self, current: Intervention, user: User,
                           method: str) -> LaneEvent | None:
        """Start the check in ``user``'s name; None when it has already started."""
        if "attendant" in current.detail:
            return None
        detail = {**current.detail, "attendant": user.name, "method": method}
        await self.update_detail(current, detail)
        return self._progress(detail, ok=True, key="audit_rescan")

    async def rescan(self, scan: RoutedScan) -> LaneEvent:
        """Match one rescanned item against the listed units."""
        current = self.active[0]
        detail = dict(current.detail)
        product = None
        if isinstance(scan, ProductScan):
            product = await self.services.catalog.product_by_gtin(scan.gtin)
        elif isinstance(scan, WeighedItemScan):
            product = await self.services.catalog.product_by_item_code(scan.item_code)
        if product is None or all(ln.product_id != product.id for ln in self.lane.cart.lines):
            detail["mismatches"] = [*detail.get("mismatches", []), scan.text[:64]]
            await self.update_detail(current, detail)
            return self._progress(detail, ok=False, key="audit_not_in_cart")
        done = list(detail.get("done", []))
        if not match_rescan(detail.get("items", []), done, product.id):
            return self._progress(detail, ok=False, key="audit_not_asked")
        detail["done"] = [*done, product.id]
        current = await self.update_detail(current, detail)
        if len(detail["done"]) >= len(detail.get("items", [])):
            result: LaneEvent = await self.clear(current, str(detail["attendant"]),
                                                 str(detail["method"]),
                                                 self.rescan_outcome(current, forced=False))
            return result
        return self._progress(detail, ok=True, key="audit_rescan")

    @staticmethod
    def rescan_outcome(current: Intervention, *, forced: bool) -> dict[str, Any]:
        detail = current.detail
        return {"rescanned": len(detail.get("done", [])), "of": len(detail.get("items", [])),
                "mismatches": list(detail.get("mismatches", [])), "forced": forced}

    @staticmethod
    def _progress(detail: dict[str, Any], *, ok: bool, key: str) -> LaneEvent:
        return event("audit_rescan", key, ok=ok, done=len(detail.get("done", [])),
                     of=len(detail.get("items", [])))
