"""What a cart holds for loyalty: spending authorisation, coupons chosen, tenders, the guide.

An immutable value that travels inside ``Cart`` (and its JSON), so it is persisted with every
cart change and restored after a restart like the lines are. The rules that read it are in
``edge.members`` (who may spend) and ``edge.loyalty_tenders`` (what is spent).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Need = Literal["phone_last4", "member_code"]


@dataclass(frozen=True, slots=True)
class CartLoyalty:
    member_id: str | None = None
    """The member the rest belongs to: when the cart's member changes, the rest is reset."""
    verified: bool = False
    """Spending stored value or points is authorised (rotating code, or last 4 confirmed)."""
    static_code: bool = False
    """Identified by a static member code, which a screenshot can copy."""
    code_step: int | None = None
    """The rotating-code step accepted for this cart: scanning it again is not a reuse."""
    coupon_codes: tuple[str, ...] = ()
    """Coupons scanned for this cart (``CP...``), in scan order."""
    removed_codes: tuple[str, ...] = ()
    """The member's own coupons the shopper took off; the optimiser leaves them out."""
    points: int = 0
    """Points to burn as a tender."""
    points_fen: int = 0
    stored_value_fen: int = 0
    guide_id: str | None = None
    guide_name: str | None = None

    @property
    def pending_fen(self) -> int:
        """What points and stored value pay together."""
        return self.points_fen + self.stored_value_fen

    def for_member(self, member_id: str | None) -> CartLoyalty:
        """Keep what belongs to the cart (scanned coupons, guide); drop the member's part."""
        if member_id == self.member_id:
            return self
        return CartLoyalty(member_id=member_id, coupon_codes=self.coupon_codes,
                           guide_id=self.guide_id, guide_name=self.guide_name)

    def replace(self, **changes: Any) -> CartLoyalty:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CartLoyalty:
        """Rebuild from the cart JSON; carts saved before loyalty existed have none."""
        if not data:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("coupon_codes", "removed_codes"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)
