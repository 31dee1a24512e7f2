"""Price a cart: member prices and promotions, in integer fen, explainably.

How a receipt is worked out, in this order (all amounts are integer fen, 1 yuan = 100 fen):

1. **Line amount** (``base``). A supervisor's price override wins: qty x override, and no
   member price or promotion touches that line. Otherwise a price-embedded scale label's amount;
   otherwise a weighed line's weight_g x price per kg / 1000, rounded half up to the fen
   (0.532 kg at ¥25.80/kg is 1373 fen); otherwise qty x unit price.
2. **One item-level saving per line**, whichever saves the shopper most: the member price
   (members only, when below the shelf price) or an item percent promotion (8折 etc.).
   They never stack. A percent saves base x percent / 100 rounded down to the fen (8折 on
   12.99 yuan saves 2.59). The member price saves base minus the line re-priced at member price with
   the same rounding; a label line is re-priced as label amount x member price / shelf price,
   rounded half up. Equal savings go to the higher priority, then the smaller promotion id;
   the member price ("会员价") counts as priority 0 with id ``member-price``.
3. **Buy N get M** (买N送M, 第二件半价-like) on counted, non-overridden lines in its scope, after
   step 2: the units are lined up from dearest to cheapest (a line's remaining amount is spread
   over its units, the odd fen on the first units; equal prices keep cart order) and cut into
   groups of N+M; in every full group the last M units, the cheapest, are free.
4. **Spend thresholds** (满减) on non-overridden lines in scope, after step 3: when what is left
   on those lines reaches the threshold, the promotion takes off ``off`` once, or once per full
   threshold when repeatable (up to its max times), never more than what is left. The amount
   off is shared over the lines in proportion to what is left on each, whole fen by the
   largest-remainder method (ties to the earlier line), so the line shares add up exactly.
5. **Coupons** (``edge.coupons``, applied to this module's result by the lane): the best legal
   combination of the cart's coupons on what step 4 left, integer fen, shares split by the same
   largest-remainder rule; each coupon adds a discount line ``coupon:<code>``. Its module says
   how the combination is chosen.

A line is in a promotion's scope when its product or its category is listed (nothing listed
means every line). Promotions of steps 3 and 4 apply one after another, higher priority first,
then by id, each on what the previous ones left. A promotion outside its [starts_at, ends_at)
window, or members-only for a shopper who is not a member, is ignored. The receipt shows one
discount line per promotion that saved anything, in the order applied (item-level ones first,
in their tie-break order). Invalid input raises ``PricingError`` naming the line or
promotion; the same cart always prices the same, whatever the order the promotions come in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .errors import EdgeError

MEMBER_PRICE_ID = "member-price"
MEMBER_PRICE_LABEL = "会员价"

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


class PricingError(EdgeError, ValueError):
    """The cart or a promotion cannot be priced; the message names which one and why."""


# Per kind: the integer fields it needs, with their smallest and largest allowed values.
_PROMOTION_FIELDS: dict[str, tuple[tuple[str, int, int | None], ...]] = {
    "item_percent": (("percent_off", 1, 100),),
    "buy_n_get_m": (("buy_n", 1, None), ("get_m", 1, None)),
    "threshold": (("threshold_fen", 1, None), ("off_fen", 1, None)),
}

# What one promotion gave: (promotion id, label, [(line index, fen), ...] in line order).
_Applied = tuple[str, str, list[tuple[int, int]]]


def _check_line(line: LineInput, seen: set[str]) -> None:
    """Raise ``PricingError`` when ``line`` cannot be priced."""
    where = f"line {line.line_id!r}"
    if line.line_id in seen:
        raise PricingError(f"{where}: duplicate line id")
    seen.add(line.line_id)
    if type(line.qty) is not int or line.qty < 1:
        raise PricingError(f"{where}: qty must be a whole number of at least 1, not {line.qty!r}")
    for name in ("unit_price_fen", "member_price_fen", "weight_g", "label_amount_fen",
                 "price_override_fen"):
        value = getattr(line, name)
        if value is not None and (type(value) is not int or value < 0):
            raise PricingError(f"{where}: {name} must be a whole number >= 0, not {value!r}")
    if (line.weight_g is not None or line.label_amount_fen is not None) and line.qty != 1:
        raise PricingError(f"{where}: a weighed or labelled line has qty 1, not {line.qty}")


def _check_promotion(promo: Promotion, seen: set[str]) -> None:
    """Raise ``PricingError`` when ``promo`` is malformed, whether or not it applies now."""
    where = f"promotion {promo.id!r}"
    if promo.id in seen or promo.id == MEMBER_PRICE_ID:
        raise PricingError(f"{where}: duplicate or reserved promotion id")
    seen.add(promo.id)
    fields = _PROMOTION_FIELDS.get(promo.kind)
    if fields is None:
        raise PricingError(f"{where}: unknown kind {promo.kind!r}")
    if type(promo.priority) is not int:
        raise PricingError(f"{where}: priority must be a whole number, not {promo.priority!r}")
    for name, low, high in fields:
        value = getattr(promo, name)
        if type(value) is not int or value < low or (high is not None and value > high):
            limits = f"{low}..{high}" if high is not None else f">= {low}"
            raise PricingError(f"{where}: {name} must be a whole number {limits}, not {value!r}")
    if promo.max_times is not None and (type(promo.max_times) is not int or promo.max_times < 1):
        raise PricingError(f"{where}: max_times must be at least 1, not {promo.max_times!r}")


def _is_active(promo: Promotion, is_member: bool, now: dt.datetime) -> bool:
    """Return whether ``promo`` applies to this shopper at ``now``."""
    try:
        in_window = (promo.starts_at is None or promo.starts_at <= now) and (
            promo.ends_at is None or now < promo.ends_at
        )
    except TypeError as exc:  # a naive and an aware time cannot be ordered
        raise PricingError(
            f"promotion {promo.id!r}: its window and now disagree on having a time zone"
        ) from exc
    return in_window and (is_member or not promo.members_only)


def _half_up(numerator: int, denominator: int) -> int:
    """Divide non-negative integers, rounding half up."""
    return (2 * numerator + denominator) // (2 * denominator)


def _base_fen(line: LineInput) -> int:
    """Return the line's amount before any saving."""
    if line.price_override_fen is not None:
        return line.qty * line.price_override_fen
    if line.label_amount_fen is not None:
        return line.label_amount_fen
    if line.weight_g is not None:
        return _half_up(line.weight_g * line.unit_price_fen, 1000)
    return line.qty * line.unit_price_fen


def _member_saving(line: LineInput, base: int) -> int:
    """Return what the member price saves on ``line`` (0 when it does not apply)."""
    member = line.member_price_fen
    if member is None or member >= line.unit_price_fen or line.price_override_fen is not None:
        return 0
    if line.label_amount_fen is not None:
        return base - _half_up(line.label_amount_fen * member, line.unit_price_fen)
    if line.weight_g is not None:
        return base - _half_up(line.weight_g * member, 1000)
    return base - line.qty * member


def _scoped(promo: Promotion, lines: Sequence[LineInput], counted_only: bool) -> list[int]:
    """Return the indexes of the non-overridden lines ``promo`` covers, in cart order."""
    products, categories = promo.product_ids, promo.categories
    everything = not products and not categories
    return [
        i for i, line in enumerate(lines)
        if line.price_override_fen is None
        and (everything or line.product_id in products or line.category in categories)
        and not (counted_only and (line.weight_g is not None or line.label_amount_fen is not None))
    ]


def _application_order(promo: Promotion) -> tuple[int, str]:
    return (-promo.priority, promo.id)


def _item_level(
    lines: Sequence[LineInput], nets: list[int], percents: list[Promotion], is_member: bool
) -> list[_Applied]:
    """Take each line's single best item-level saving off ``nets``; return who gave what."""
    # (sort key, id, label, percent off or 0 for the member price, covered line indexes)
    offers = [
        ((-p.priority, p.id), p.id, p.label, p.percent_off, set(_scoped(p, lines, False)))
        for p in percents
    ]
    if is_member:
        offers.append(((0, MEMBER_PRICE_ID), MEMBER_PRICE_ID, MEMBER_PRICE_LABEL, 0, set()))
    offers.sort(key=lambda offer: offer[0])
    applied: list[_Applied] = [(offer[1], offer[2], []) for offer in offers]
    for i, line in enumerate(lines):
        base, best, best_k = nets[i], 0, -1
        for k, (_, _, _, percent, covered) in enumerate(offers):
            if percent:
                saving = base * percent // 100 if i in covered else 0
            else:
                saving = _member_saving(line, base)
            if saving > best:  # strictly: on a tie the earlier offer in tie-break order stays
                best, best_k = saving, k
        if best_k >= 0:
            applied[best_k][2].append((i, best))
            nets[i] = base - best
    return applied


def _free_units_before(position: int, buy_n: int, get_m: int) -> int:
    """Count the free places among the first ``position`` units lined up for buy N get M."""
    groups, into = divmod(position, buy_n + get_m)
    return groups * get_m + max(0, into - buy_n)


def _buy_n_get_m(
    promo: Promotion, scoped: list[int], lines: Sequence[LineInput], nets: list[int]
) -> list[tuple[int, int]]:
    """Return what buy N get M takes off each scoped line, in cart order."""
    # Units of equal price are runs, so a line of 1000 units costs as little as a line of 1.
    runs: list[tuple[int, int, int]] = []  # (unit price, line index, units)
    units = 0
    for i in scoped:
        qty = lines[i].qty
        each, odd = divmod(nets[i], qty)
        if odd:
            runs.append((each + 1, i, odd))
        runs.append((each, i, qty - odd))
        units += qty
    group = promo.buy_n + promo.get_m
    in_full_groups = units // group * group
    runs.sort(key=lambda run: -run[0])  # stable: equal prices keep cart order
    free: dict[int, int] = {}
    start = 0
    for price, i, count in runs:
        if start >= in_full_groups:
            break
        end = min(start + count, in_full_groups)
        n_free = (_free_units_before(end, promo.buy_n, promo.get_m)
                  - _free_units_before(start, promo.buy_n, promo.get_m))
        if n_free and price:
            free[i] = free.get(i, 0) + n_free * price
        start += count
    return [(i, free[i]) for i in scoped if i in free]


def _threshold(promo: Promotion, scoped: list[int], nets: list[int]) -> list[tuple[int, int]]:
    """Return what a spend threshold takes off each scoped line, in cart order."""
    eligible = sum(nets[i] for i in scoped)
    if eligible < promo.threshold_fen:
        return []
    times = 1
    if promo.repeatable:
        times = eligible // promo.threshold_fen
        if promo.max_times is not None:
            times = min(times, promo.max_times)
    off = min(times * promo.off_fen, eligible)
    return [(i, share) for i, share in zip(scoped, _shares(off, scoped, nets, eligible),
                                           strict=True) if share]


def _shares(off: int, scoped: list[int], nets: list[int], eligible: int) -> list[int]:
    """Split ``off`` over ``scoped`` in proportion to ``nets`` by the largest remainder."""
    shares: list[int] = []
    remainders: list[tuple[int, int]] = []  # (-remainder, position) sorts largest, then first
    for position, i in enumerate(scoped):
        share, remainder = divmod(off * nets[i], eligible)
        shares.append(share)
        remainders.append((-remainder, position))
    left = off - sum(shares)
    if left:
        for _, position in sorted(remainders)[:left]:
            shares[position] += 1
    return shares


def _priced(
    lines: Sequence[LineInput], bases: list[int], nets: list[int], applied: list[_Applied]
) -> PricedCart:
    """Assemble the receipt from line amounts and what each promotion gave."""
    discounts = tuple(
        DiscountLine(promo_id, label, sum(fen for _, fen in gains),
                     tuple(lines[i].line_id for i, _ in gains))
        for promo_id, label, gains in applied if gains
    )
    priced = tuple(
        PricedLine(line.line_id, base, base - net, net)
        for line, base, net in zip(lines, bases, nets, strict=True)
    )
    subtotal = sum(bases)
    discount = sum(d.amount_fen for d in discounts)
    return PricedCart(priced, discounts, subtotal, discount, subtotal - discount)


def price_cart(
    lines: Sequence[LineInput],
    promotions: Sequence[Promotion],
    *,
    is_member: bool,
    now: dt.datetime,
) -> PricedCart:
    """Price ``lines`` under ``promotions``; the same input always gives the same result."""
    seen: set[str] = set()
    for line in lines:
        _check_line(line, seen)
    seen = set()
    for promo in promotions:
        _check_promotion(promo, seen)
    active = sorted((p for p in promotions if _is_active(p, is_member, now)),
                    key=_application_order)
    bases = [_base_fen(line) for line in lines]
    nets = bases.copy()
    applied = _item_level(lines, nets, [p for p in active if p.kind == "item_percent"],
                          is_member)
    for kind in ("buy_n_get_m", "threshold"):
        for promo in (p for p in active if p.kind == kind):
            if kind == "buy_n_get_m":
                gains = _buy_n_get_m(promo, _scoped(promo, lines, True), lines, nets)
            else:
                gains = _threshold(promo, _scoped(promo, lines, False), nets)
            for i, fen in gains:
                nets[i] -= fen
            applied.append((promo.id, promo.label, gains))
    return _priced(lines, bases, nets, applied)
