"""Points and stored value as tenders, and everything loyalty adds to a sale when it commits.

Before the sale: ``fit_tenders`` keeps the chosen points and stored value within what is left
to pay. At the commit, in the sale's own write transaction: ``check_in_sale`` re-reads the
balances (and the offline stored-value allowance, through ``sync.offline``) so two lanes
cannot both spend the last of a balance; ``extend_plan`` adds the tenders' ledger deltas
(``member:<id>:points``, ``member:<id>:stored_value``, which the CRM applies as deltas), the
points earned by the rule, the coupons redeemed and the guide; ``record_in_sale`` marks the
coupons redeemed and attributes the guide.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

from sync.offline import Decision

from .cart import Cart
from .coupons import COUPON_PREFIX, CouponPricedCart
from .errors import SaleRefused
from .loyalty_config import LoyaltyConfig
from .loyalty_state import CartLoyalty
from .members import points_available
from .pricing import PricedCart
from .sales import SalePlan, Tender

POINTS, STORED_VALUE = "points", "stored_value"
# (connection, amount in fen, member id) -> the offline decision, run inside the transaction.
StoredValueCheck = Callable[[sqlite3.Connection, int, str], Decision]


def fit_tenders(loyalty: CartLoyalty, total_fen: int, point_value_fen: int) -> CartLoyalty:
    """Trim points, then stored value, so that together they never pay more than the total."""
    points = min(loyalty.points, total_fen // point_value_fen)
    points_fen = points * point_value_fen
    stored = min(loyalty.stored_value_fen, total_fen - points_fen)
    if (points, stored) == (loyalty.points, loyalty.stored_value_fen):
        return loyalty
    return loyalty.replace(points=points, points_fen=points_fen, stored_value_fen=stored)


def loyalty_tenders(cart: Cart) -> list[Tender]:
    """The tenders the shopper chose from their balances, first in the sale."""
    loyalty, member = cart.loyalty, cart.member
    if member is None:
        return []
    tenders = []
    if loyalty.points:
        tenders.append(Tender(POINTS, loyalty.points_fen, f"{loyalty.points} points"))
    if loyalty.stored_value_fen:
        tenders.append(Tender(STORED_VALUE, loyalty.stored_value_fen, member.id))
    return tenders


def points_earned(total_fen: int, paid_by_balances_fen: int, tier: str,
                  config: LoyaltyConfig) -> int:
    """Points a member earns: per ``fen_per_point`` paid with money, times the tier's rate."""
    money = max(0, total_fen - paid_by_balances_fen)
    return money // config.fen_per_point * config.earn_percent(tier) // 100


def extend_plan(plan: SalePlan, cart: Cart, priced: PricedCart,
                config: LoyaltyConfig) -> SalePlan:
    """Add the loyalty rows to a planned sale (still pure: nothing is written here)."""
    sid, member = plan.sale_id, cart.member
    ledger = [row for row in plan.ledger if not (member and row[0] == f"{sid}:points")]
    loyalty = cart.loyalty
    if member is not None:
        earned = points_earned(plan.total_fen, loyalty.pending_fen, member.tier, config)
        account = f"member:{member.id}:"
        if loyalty.points:
            ledger.append((f"{sid}:points_used", account + POINTS, -loyalty.points, sid,
                           "redeemed", plan.created_at))
        if loyalty.stored_value_fen:
            ledger.append((f"{sid}:stored_value", account + STORED_VALUE,
                           -loyalty.stored_value_fen, sid, "spent", plan.created_at))
        if earned:
            ledger.append((f"{sid}:points", account + POINTS, earned, sid, "earned",
                           plan.created_at))
    payload: dict[str, Any] = dict(plan.payload)
    payload["ledger"] = [{"entry_id": r[0], "account": r[1], "delta": r[2], "reason": r[4]}
                         for r in ledger]
    if isinstance(priced, CouponPricedCart) and priced.applied:
        payload["coupons"] = [{"code": v.code, "amount_fen": v.amount_fen}
                              for v in priced.applied]
    if loyalty.guide_id is not None:
        payload["guide_id"] = loyalty.guide_id
    return dataclasses.replace(plan, ledger=tuple(ledger), payload=payload)


def earned_in(plan: SalePlan) -> int:
    """The points a planned sale credits to its member."""
    return sum(row[2] for row in plan.ledger
               if row[0] == f"{plan.sale_id}:points" and row[1].endswith(":points"))


def check_in_sale(conn: sqlite3.Connection, cart: Cart, priced: PricedCart,
                  stored_value_check: StoredValueCheck | None) -> None:
    """Re-check balances and coupons inside the sale's transaction; raise ``SaleRefused``."""
    loyalty, member = cart.loyalty, cart.member
    if member is not None and loyalty.points:
        have = points_available(conn, member.id)
        if loyalty.points > have:
            raise SaleRefused(f"积分不足 / not enough points: {have} left")
    if member is not None and loyalty.stored_value_fen:
        if stored_value_check is None:
            raise SaleRefused("储值暂不可用 / stored value is not available at this lane")
        decision = stored_value_check(conn, loyalty.stored_value_fen, member.id)
        if not decision.ok:
            raise SaleRefused(f"储值不可用 / stored value refused: {decision.reason}")
    for code in applied_codes(priced):
        row = conn.execute("SELECT redeemed_at, redeemed_sale_id FROM coupons WHERE code = ?",
                           (code,)).fetchone()
        if row is None or row[0] is not None or row[1] is not None:
            raise SaleRefused(f"券 {code} 已被使用 / coupon {code} was just used")


def applied_codes(priced: PricedCart) -> list[str]:
    return [d.promotion_id.removeprefix(COUPON_PREFIX) for d in priced.discounts
            if d.promotion_id.startswith(COUPON_PREFIX)]


def record_in_sale(conn: sqlite3.Connection, plan: SalePlan, cart: Cart,
                   priced: PricedCart) -> None:
    """Mark the coupons redeemed and attribute the guide, in the sale's transaction."""
    conn.executemany("UPDATE coupons SET redeemed_sale_id = ? WHERE code = ?",
                     [(plan.sale_id, code) for code in applied_codes(priced)])
    if cart.loyalty.guide_id is not None:
        conn.execute("UPDATE sales SET guide_id = ? WHERE id = ?",
                     (cart.loyalty.guide_id, plan.sale_id))
