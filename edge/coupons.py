"""Coupons: step 5 of pricing, after the promotions of ``edge.pricing``; pure and integer.

A coupon is cash-off (满X减Y), a percentage (optionally capped) or a gift (one unit of a
product in the cart free). Its scope is the lines whose product or category it lists (none
listed: the whole basket); overridden lines are never in scope, and a coupon that does not
stack with promotions leaves out the lines a promotion saved on (a member price is not a
promotion). How a sale's coupons are worked out:

1. **Which coupons may apply**, each on its own: not redeemed, inside its [valid_from,
   valid_to) window, for this member (or a bearer coupon; a shared one not for its sharer),
   something in scope, the gift item in the cart, and the threshold reached. The threshold is
   measured on the scope's amount after the promotions and before any coupon, so one coupon
   never disqualifies another.
2. **The best legal combination**: every set of those coupons of at most ``max_per_sale``, an
   exclusive coupon only alone, is applied and the one saving the shopper most wins; on a tie
   the set with fewer coupons (the rest stay for later), then the one whose coupons expire
   soonest, then the smaller codes. With more than ``MAX_CANDIDATES`` candidates, the ones
   saving most alone are tried.
3. **Applying a set**: gifts first, then percentages, then cash-offs, each by code. A gift
   takes one unit of the gift line off (its dearest unit: the odd fen of a line go to its
   first units, as in step 3 of pricing). A percentage takes ``amount x percent / 100``
   rounded down, at most its cap; a cash-off its amount; both never more than what is left on
   their scope, shared over the scope's lines in proportion to what is left on each by the
   largest remainder (ties to the earlier line), so the shares add up exactly.

Every coupon gets a verdict: applied with what it saved, or not applied with a stable reason
code and a message in Chinese and English. The same input always gives the same result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import EdgeError
from .loyalty_messages import COUPON_REASONS, yuan
from .pricing import MEMBER_PRICE_ID, DiscountLine, LineInput, PricedCart, PricedLine

CouponKind = Literal["cash_off", "percent", "gift"]
KINDS = ("cash_off", "percent", "gift")
MAX_CANDIDATES = 12
COUPON_PREFIX = "coupon:"
_ORDER = {"gift": 0, "percent": 1, "cash_off": 2}
_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


class CouponError(EdgeError, ValueError):
    """A coupon's body cannot be used; the message names the coupon and the field."""


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    label: str
    kind: CouponKind
    off_fen: int = 0
    percent_off: int = 0
    cap_fen: int | None = None
    gift_product_id: str | None = None
    threshold_fen: int = 0
    product_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    member_id: str | None = None
    """Whose coupon it is; None for a bearer coupon anyone may use."""
    not_for_member: str | None = None
    """A shareable coupon is for a friend: not for the member who shared it."""
    exclusive: bool = False
    with_promotions: bool = True
    redeemed: bool = False


@dataclass(frozen=True, slots=True)
class CouponVerdict:
    code: str
    label: str
    applied: bool
    amount_fen: int
    reason: str
    zh: str
    en: str

    def view(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class CouponPricedCart(PricedCart):
    """A priced cart after the coupon step, with every coupon's verdict."""

    coupons: tuple[CouponVerdict, ...] = ()

    @property
    def applied(self) -> tuple[CouponVerdict, ...]:
        return tuple(v for v in self.coupons if v.applied)


# -- reading a coupon row ----------------------------------------------------------------------

def _int(body: Mapping[str, Any], key: str, code: str, low: int, high: int | None, *,
         default: int | None = None) -> int:
    value = body.get(key, default)
    if type(value) is not int or value < low or (high is not None and value > high):
        raise CouponError(f"coupon {code!r}: {key} must be a whole number "
                          f"{low}..{high if high is not None else ''}, not {value!r}")
    return value


def _names(body: Mapping[str, Any], key: str, code: str) -> frozenset[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CouponError(f"coupon {code!r}: {key} must be a list of ids")
    return frozenset(value)


def _flag(body: Mapping[str, Any], key: str, code: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise CouponError(f"coupon {code!r}: {key} must be true or false")
    return value


def _time(value: str | None, code: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise CouponError(f"coupon {code!r}: bad time {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def coupon_from_row(row: Mapping[str, Any]) -> Coupon:
    """Build a ``Coupon`` from a ``coupons`` row; raise ``CouponError`` when it is unusable."""
    code = str(row["code"])
    body = json.loads(row["body"]) if isinstance(row["body"], str) else row["body"]
    if not isinstance(body, dict):
        raise CouponError(f"coupon {code!r}: body must be an object")
    kind = body.get("kind")
    if kind not in KINDS:
        raise CouponError(f"coupon {code!r}: kind must be one of {', '.join(KINDS)}")
    not_for = body.get("not_for_member")
    if not_for is not None and not isinstance(not_for, str):
        raise CouponError(f"coupon {code!r}: not_for_member must be a member id")
    gift = body.get("gift_product_id")
    if kind == "gift" and not isinstance(gift, str):
        raise CouponError(f"coupon {code!r}: a gift coupon needs gift_product_id")
    cap = body.get("cap_fen")
    return Coupon(
        code=code, label=str(row["label"]), kind=kind,
        off_fen=_int(body, "off_fen", code, 1, None) if kind == "cash_off" else 0,
        percent_off=_int(body, "percent_off", code, 1, 100) if kind == "percent" else 0,
        cap_fen=None if cap is None else _int(body, "cap_fen", code, 1, None),
        gift_product_id=gift if kind == "gift" else None,
        threshold_fen=_int(body, "threshold_fen", code, 0, None, default=0),
        product_ids=_names(body, "product_ids", code),
        categories=_names(body, "categories", code),
        valid_from=_time(row.get("valid_from"), code), valid_to=_time(row.get("valid_to"), code),
        member_id=row.get("member_id"), not_for_member=not_for,
        exclusive=_flag(body, "exclusive", code, False),
        with_promotions=_flag(body, "with_promotions", code, True),
        redeemed=bool(row.get("redeemed")),
    )


# -- verdict words -----------------------------------------------------------------------------

def explain(reason: str, **facts: int) -> tuple[str, str]:
    """Return (zh, en) for a verdict reason, with the amounts filled in."""
    zh, en = COUPON_REASONS.get(reason, (reason, reason))
    money = {k: yuan(v) for k, v in facts.items()}
    return zh.format(**money), en.format(**money)


def verdict(coupon: Coupon, reason: str, amount_fen: int = 0, **facts: int) -> CouponVerdict:
    zh, en = explain(reason, saved=amount_fen, **facts)
    return CouponVerdict(coupon.code, coupon.label, reason == "applied", amount_fen, reason,
                         zh, en)


# -- the step ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Candidate:
    coupon: Coupon
    scope: tuple[int, ...]      # line indexes, cart order
    gift_line: int | None


def _promoted_lines(priced: PricedCart) -> set[str]:
    return {line_id for d in priced.discounts if d.promotion_id != MEMBER_PRICE_ID
            for line_id in d.line_ids}


def _scope(coupon: Coupon, lines: Sequence[LineInput], promoted: set[str]) -> tuple[int, ...]:
    everything = not coupon.product_ids and not coupon.categories
    return tuple(
        i for i, line in enumerate(lines)
        if line.price_override_fen is None
        and (everything or line.product_id in coupon.product_ids
             or line.category in coupon.categories)
        and (coupon.with_promotions or line.line_id not in promoted))


def _eligibility(  # noqa: PLR0911 - one answer per rule, in the order a shopper reads them
        coupon: Coupon, lines: Sequence[LineInput], nets: Sequence[int], promoted: set[str],
        *, member_id: str | None, now: dt.datetime) -> _Candidate | CouponVerdict:
    """Return a candidate, or the verdict saying why ``coupon`` cannot apply at all."""
    if coupon.redeemed:
        return verdict(coupon, "redeemed")
    if coupon.valid_from is not None and now < coupon.valid_from:
        return verdict(coupon, "not_yet")
    if coupon.valid_to is not None and now >= coupon.valid_to:
        return verdict(coupon, "expired")
    if coupon.member_id is not None and coupon.member_id != member_id:
        return verdict(coupon, "members_only" if member_id is None else "other_member")
    if coupon.not_for_member is not None and coupon.not_for_member == member_id:
        return verdict(coupon, "own_share")
    scope = _scope(coupon, lines, promoted)
    if not scope:
        unstacked = dataclasses.replace(coupon, with_promotions=True)
        reason = "out_of_scope" if coupon.with_promotions or not _scope(
            unstacked, lines, promoted) else "promotion_applied"
        return verdict(coupon, reason)
    gift_line = None
    if coupon.kind == "gift":
        gift_line = _gift_line(coupon, lines, nets, promoted)
        if gift_line is None:
            return verdict(coupon, "gift_missing")
    eligible = sum(nets[i] for i in scope)
    if eligible < coupon.threshold_fen:
        return verdict(coupon, "below_threshold", missing=coupon.threshold_fen - eligible)
    return _Candidate(coupon, scope, gift_line)


def _gift_line(coupon: Coupon, lines: Sequence[LineInput], nets: Sequence[int],
               promoted: set[str]) -> int | None:
    """Return the line whose dearest unit the gift makes free (the dearest such unit)."""
    best, best_unit = None, 0
    for i, line in enumerate(lines):
        if (line.product_id != coupon.gift_product_id or line.price_override_fen is not None
                or (not coupon.with_promotions and line.line_id in promoted)):
            continue
        unit = -(-nets[i] // line.qty)  # the first unit carries the odd fen
        if unit > best_unit:
            best, best_unit = i, unit
    return best


def _shares(off: int, scope: Sequence[int], nets: Sequence[int]) -> list[tuple[int, int]]:
    """Split ``off`` over ``scope`` in proportion to ``nets`` by the largest remainder."""
    total = sum(nets[i] for i in scope)
    if off <= 0 or total <= 0:
        return []
    shares, remainders = [], []
    for position, i in enumerate(scope):
        share, remainder = divmod(off * nets[i], total)
        shares.append(share)
        remainders.append((-remainder, position))
    for _, position in sorted(remainders)[:off - sum(shares)]:
        shares[position] += 1
    return [(i, s) for i, s in zip(scope, shares, strict=True) if s]


def _take(candidate: _Candidate, lines: Sequence[LineInput],
          nets: list[int]) -> list[tuple[int, int]]:
    """Apply one coupon to ``nets``; return what it took off each line."""
    coupon = candidate.coupon
    if coupon.kind == "gift":
        i = candidate.gift_line
        assert i is not None
        gains = [(i, min(-(-nets[i] // lines[i].qty), nets[i]))]
    else:
        left = sum(nets[i] for i in candidate.scope)
        if coupon.kind == "percent":
            off = left * coupon.percent_off // 100
            if coupon.cap_fen is not None:
                off = min(off, coupon.cap_fen)
        else:
            off = coupon.off_fen
        gains = _shares(min(off, left), candidate.scope, nets)
    gains = [(i, fen) for i, fen in gains if fen > 0]
    for i, fen in gains:
        nets[i] -= fen
    return gains


def _application_key(candidate: _Candidate) -> tuple[int, str]:
    return _ORDER[candidate.coupon.kind], candidate.coupon.code


_Taken = list[tuple[_Candidate, list[tuple[int, int]]]]


def _apply_set(combo: Sequence[_Candidate], lines: Sequence[LineInput],
               nets: Sequence[int]) -> tuple[list[int], _Taken]:
    left = list(nets)
    taken = [(c, _take(c, lines, left)) for c in sorted(combo, key=_application_key)]
    return left, taken


def _alone(candidate: _Candidate, lines: Sequence[LineInput], nets: Sequence[int]) -> int:
    """Return what ``candidate`` saves on its own."""
    return sum(fen for _, fen in _take(candidate, lines, list(nets)))


def _left_out(candidate: _Candidate, chosen: Sequence[_Candidate], max_per_sale: int) -> str:
    """Say why a coupon that could apply is not in the chosen set."""
    if candidate.coupon.exclusive:
        return "exclusive"
    if any(c.coupon.exclusive for c in chosen):
        return "exclusive_other"
    if len(chosen) >= max_per_sale:
        return "max_per_sale"
    return "no_extra_saving"


def _legal(combo: Sequence[_Candidate], max_per_sale: int) -> str | None:
    """Return why ``combo`` may not be used together, or None."""
    if len(combo) > 1 and any(c.coupon.exclusive for c in combo):
        return "exclusive"
    if len(combo) > max_per_sale:
        return "max_per_sale"
    return None


def _rank(combo: Sequence[_Candidate], saving: int) -> tuple[Any, ...]:
    expiries = sorted(c.coupon.valid_to or _FAR for c in combo)
    return (-saving, len(combo), expiries, sorted(c.coupon.code for c in combo))


def best_combination(candidates: Sequence[_Candidate], lines: Sequence[LineInput],
                     nets: Sequence[int], max_per_sale: int) -> tuple[_Candidate, ...]:
    """Return the legal set of candidates that saves the shopper most (see step 2)."""
    if len(candidates) > MAX_CANDIDATES:
        candidates = sorted(candidates, key=lambda c: (-_alone(c, lines, nets),
                                                       c.coupon.code))[:MAX_CANDIDATES]
    best: tuple[_Candidate, ...] = ()
    best_rank = _rank((), 0)
    for size in range(1, min(max_per_sale, len(candidates)) + 1):
        for combo in itertools.combinations(candidates, size):
            if _legal(combo, max_per_sale) is not None:
                continue
            left, _ = _apply_set(combo, lines, nets)
            rank = _rank(combo, sum(nets) - sum(left))
            if rank < best_rank:
                best, best_rank = combo, rank
    return best


def apply_coupons(lines: Sequence[LineInput], priced: PricedCart, coupons: Sequence[Coupon],
                  *, member_id: str | None, now: dt.datetime,
                  max_per_sale: int) -> CouponPricedCart:
    """Take the best legal combination of ``coupons`` off ``priced``; explain every coupon."""
    if len(lines) != len(priced.lines):
        raise CouponError("the priced cart does not belong to these lines")
    nets = [pl.net_fen for pl in priced.lines]
    promoted = _promoted_lines(priced)
    verdicts: dict[str, CouponVerdict] = {}
    candidates: list[_Candidate] = []
    for coupon in sorted(coupons, key=lambda c: c.code):
        if coupon.code in verdicts or any(c.coupon.code == coupon.code for c in candidates):
            continue  # the same code twice (scanned and in the wallet) counts once
        found = _eligibility(coupon, lines, nets, promoted, member_id=member_id, now=now)
        if isinstance(found, CouponVerdict):
            verdicts[coupon.code] = found
        elif _alone(found, lines, nets) <= 0:
            verdicts[coupon.code] = verdict(coupon, "nothing_to_save")
        else:
            candidates.append(found)
    chosen = best_combination(candidates, lines, nets, max_per_sale)
    left, taken = _apply_set(chosen, lines, nets)
    for candidate, gains in taken:
        verdicts[candidate.coupon.code] = verdict(candidate.coupon, "applied",
                                                  sum(f for _, f in gains))
    for candidate in candidates:
        if candidate.coupon.code not in verdicts:
            verdicts[candidate.coupon.code] = verdict(
                candidate.coupon, _left_out(candidate, chosen, max_per_sale))
    return _priced(lines, priced, left, taken, tuple(verdicts[c.code] for c in _ordered(coupons)))


def _ordered(coupons: Sequence[Coupon]) -> list[Coupon]:
    seen: set[str] = set()
    out = []
    for coupon in coupons:
        if coupon.code not in seen:
            seen.add(coupon.code)
            out.append(coupon)
    return out


def _priced(lines: Sequence[LineInput], priced: PricedCart, nets: list[int], taken: _Taken,
            verdicts: tuple[CouponVerdict, ...]) -> CouponPricedCart:
    discounts = tuple(
        DiscountLine(COUPON_PREFIX + c.coupon.code, c.coupon.label, sum(f for _, f in gains),
                     tuple(lines[i].line_id for i, _ in sorted(gains)))
        for c, gains in taken if gains)
    new_lines = tuple(PricedLine(pl.line_id, pl.base_fen, pl.base_fen - net, net)
                      for pl, net in zip(priced.lines, nets, strict=True))
    coupon_off = sum(d.amount_fen for d in discounts)
    return CouponPricedCart(new_lines, priced.discounts + discounts, priced.subtotal_fen,
                            priced.discount_fen + coupon_off, priced.total_fen - coupon_off,
                            verdicts)
