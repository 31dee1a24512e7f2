"""What the parts of a lane session share: the session's attributes, their state, the cart's row,
and the event helper (``edge.lane.LaneSession`` provides the attributes and methods declared
here; ``lane_members``, ``lane_wallet``, ``lane_paycodes`` and ``lane_parking`` are its parts).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from .cart import Cart, utc_now
from .catalog import Catalog
from .coupon_issue import IssuedCoupon
from .coupons import CouponPricedCart, CouponVerdict
from .lane_events import LaneEvent
from .loyalty_config import LoyaltySettings
from .loyalty_messages import words
from .members import (
    LookupLimiter,
    PhonePending,
)
from .pricing import PricedCart
from .sales import OutboxIdentity
from .store import Store
from .wallet_members import CrmLink, JoinOffer

Written = tuple[int, int, list[IssuedCoupon]]
"""What a sale's write transaction returns: receipt number, outbox seq, coupons issued."""


def event(code: str, reason: str, *, ok: bool = True, data: dict[str, Any] | None = None,
          **facts: Any) -> LaneEvent:
    """A loyalty event: its message in Chinese then English, both also in ``data``."""
    zh, en = words(reason, **facts)
    return LaneEvent(code, f"{zh} / {en}", ok,
                     data={**(data or {}), "reason": reason, "zh": zh, "en": en})


def verdicts(priced: PricedCart) -> tuple[CouponVerdict, ...]:
    """The coupon verdicts of a priced cart (none before the coupon step ran)."""
    return priced.coupons if isinstance(priced, CouponPricedCart) else ()


def save_cart(conn: sqlite3.Connection, cart: Cart) -> None:
    """Write the lane's open cart (one row per lane), so a restart finds it."""
    conn.execute(
        "INSERT INTO open_carts (lane, cart_id, state, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (lane) DO UPDATE SET cart_id = excluded.cart_id,"
        " state = excluded.state, updated_at = excluded.updated_at",
        (cart.lane, cart.cart_id, cart.to_json(), utc_now()),
    )


class LaneParts:
    """The session's attributes and the loyalty state every part reads."""

    lane_id: str
    cart: Cart
    priced: PricedCart
    payment: Any
    last_sale: Any
    _payment_scan_id: str | None
    _lock: asyncio.Lock
    _store: Store
    _catalog: Catalog
    _identity: OutboxIdentity
    loyalty_settings: LoyaltySettings
    coupon_prefix: str
    loyalty_link: CrmLink | None
    _phone_limiter: LookupLimiter
    _phone_pending: PhonePending | None
    _last4_left: int
    _balances: tuple[str, int, int] | None
    join_offer: JoinOffer | None
    last_loyalty: dict[str, Any]
    _loyalty_tasks: set[asyncio.Task[None]]

    # -- what the session provides --------------------------------------------------------

    async def _commit(self, cart: Cart, also: Callable[[sqlite3.Connection], None] | None = None,
                      *, record: Any = None) -> None:
        raise NotImplementedError

    def _publish(self, event: LaneEvent) -> LaneEvent:
        raise NotImplementedError

    def _refuse_while_paying(self) -> None:
        raise NotImplementedError

    def _refuse_changes(self) -> None:
        raise NotImplementedError

    async def _price(self, cart: Cart) -> PricedCart:
        raise NotImplementedError
