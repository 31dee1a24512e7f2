"""Price a cart: member prices and promotions, in integer fen, explainably.

STUB: the engine is implemented in a follow-up; the types are the contract.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MEMBER_PRICE_ID = "member-price"

PromotionKind = Literal["item_percent", "buy_n_get_m", "threshold"]


@dataclass(frozen=True, slots=True)
class LineInput:
    """One cart line as the pricing engine sees it."""

    line_id: str
    product_id: str
    category: str
    qty: int
    """Units; always 1 for a weighed line."""
    unit_price_fen: int
    """Per unit, or per kilogram when ``weight_g`` is set."""
    member_price_fen: int | None = None
    """Same unit as ``unit_price_fen``."""
    weight_g: int | None = None
    label_amount_fen: int | None = None
    """The amount a price-embedded scale label carries; wins over weight x price."""
    price_override_fen: int | None = None
    """A supervisor's per-unit override; no member price or promotion applies on top."""


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    kind: PromotionKind
    label: str
    """Shown to the shopper on the discount line, e.g. "满100减20"."""
    product_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    """Scope: lines whose product or category is listed; both empty means every line."""
    percent_off: int = 0
    buy_n: int = 0
    get_m: int = 0
    threshold_fen: int = 0
    off_fen: int = 0
    repeatable: bool = False
    max_times: int | None = None
    members_only: bool = False
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class PricedLine:
    line_id: str
    base_fen: int
    discount_fen: int
    net_fen: int


@dataclass(frozen=True, slots=True)
class DiscountLine:
    promotion_id: str
    label: str
    amount_fen: int
    line_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PricedCart:
    lines: tuple[PricedLine, ...]
    discounts: tuple[DiscountLine, ...]
    subtotal_fen: int
    discount_fen: int
    total_fen: int


def price_cart(
    lines: Sequence[LineInput],
    promotions: Sequence[Promotion],
    *,
    is_member: bool,
    now: dt.datetime,
) -> PricedCart:
    """Price ``lines`` under ``promotions``; the same input always gives the same result."""
    raise NotImplementedError
