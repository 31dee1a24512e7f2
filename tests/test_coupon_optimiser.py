"""The coupon optimiser (pricing step 5): worked examples, then properties over random carts."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.coupons import (
    COUPON_PREFIX,
    Coupon,
    CouponError,
    CouponKind,
    CouponPricedCart,
    apply_coupons,
    coupon_from_row,
)
from edge.pricing import LineInput, PricedCart, Promotion, price_cart

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def priced(lines: Sequence[LineInput], promotions: Sequence[Promotion] = (),
           member: bool = True) -> PricedCart:
    return price_cart(lines, promotions, is_member=member, now=NOW)


def coupons_on(lines: Sequence[LineInput], coupons: Sequence[Coupon], *,
               member_id: str | None = "M1", max_per_sale: int = 3,
               promotions: Sequence[Promotion] = ()) -> CouponPricedCart:
    return apply_coupons(lines, priced(lines, promotions, member_id is not None), coupons,
                         member_id=member_id, now=NOW, max_per_sale=max_per_sale)


def verdicts(result: CouponPricedCart) -> dict[str, tuple[bool, int, str]]:
    return {v.code: (v.applied, v.amount_fen, v.reason) for v in result.coupons}


MILK = LineInput("l1", "P6", "乳制品", 1, 6500, 5900)
WATER = LineInput("l2", "P1", "饮料", 3, 200)
CHIPS = LineInput("l3", "P10", "零食", 2, 750)


# -- worked examples -------------------------------------------------------------------------

def test_cash_off_needs_its_threshold_and_says_how_much_is_missing() -> None:
    w10 = Coupon("W10", "满50减10", "cash_off", off_fen=1000, threshold_fen=5000)
    result = coupons_on([WATER, CHIPS], [w10])   # 6.00 + 15.00
    assert verdicts(result)["W10"] == (False, 0, "below_threshold")
    assert "¥29.00" in result.coupons[0].en and "¥29.00" in result.coupons[0].zh
    result = coupons_on([WATER, CHIPS, MILK], [w10])
    assert verdicts(result)["W10"] == (True, 1000, "applied")
    assert result.total_fen == 600 + 1500 + 5900 - 1000


def test_percentage_with_a_cap_only_on_its_category() -> None:
    milk95 = Coupon("M95", "乳制品95折", "percent", percent_off=5,
                    categories=frozenset({"乳制品"}))
    capped = Coupon("CAP", "8折最多减3元", "percent", percent_off=20, cap_fen=300)
    result = coupons_on([WATER, MILK], [milk95], max_per_sale=1)
    assert verdicts(result)["M95"] == (True, 295, "applied")   # 5% of the member price 59.00
    line = {pl.line_id: pl for pl in result.lines}
    assert line["l2"].discount_fen == 0 and line["l1"].discount_fen == 600 + 295
    result = coupons_on([WATER, MILK], [capped])
    assert verdicts(result)["CAP"] == (True, 300, "applied")


def test_gift_coupon_frees_one_unit_of_its_item_when_it_is_in_the_cart() -> None:
    gift = Coupon("GIFT", "赠农夫山泉", "gift", gift_product_id="P1")
    assert verdicts(coupons_on([MILK], [gift]))["GIFT"] == (False, 0, "gift_missing")
    result = coupons_on([MILK, WATER], [gift])
    assert verdicts(result)["GIFT"] == (True, 200, "applied")
    assert result.discounts[-1].promotion_id == COUPON_PREFIX + "GIFT"
    assert result.discounts[-1].line_ids == ("l2",)


def test_window_owner_and_redemption_are_explained() -> None:
    cart = [MILK, WATER]
    coupons = [
        Coupon("OLD", "过期", "cash_off", off_fen=100, valid_to=NOW - DAY),
        Coupon("SOON", "未开始", "cash_off", off_fen=100, valid_from=NOW + DAY),
        Coupon("HERS", "别人的", "cash_off", off_fen=100, member_id="M2"),
        Coupon("USED", "已用", "cash_off", off_fen=100, redeemed=True),
        Coupon("SHARED", "我分享的", "cash_off", off_fen=100, not_for_member="M1"),
        Coupon("EDGE", "今天到期", "cash_off", off_fen=100, valid_to=NOW),
    ]
    got = verdicts(coupons_on(cart, coupons))
    assert got == {"OLD": (False, 0, "expired"), "SOON": (False, 0, "not_yet"),
                   "HERS": (False, 0, "other_member"), "USED": (False, 0, "redeemed"),
                   "SHARED": (False, 0, "own_share"), "EDGE": (False, 0, "expired")}
    anonymous = verdicts(coupons_on(cart, coupons, member_id=None))
    assert anonymous["HERS"] == (False, 0, "members_only")
    assert anonymous["SHARED"] == (True, 100, "applied")   # the friend uses it


def test_the_best_combination_wins_and_the_others_say_why() -> None:
    w10 = Coupon("W10", "满50减10", "cash_off", off_fen=1000, threshold_fen=5000)
    m95 = Coupon("M95", "乳95", "percent", percent_off=5, categories=frozenset({"乳制品"}))
    gift = Coupon("GIFT", "赠水", "gift", gift_product_id="P1")
    big = Coupon("BIG", "独享减15", "cash_off", off_fen=1500, exclusive=True)
    cart = [MILK, WATER]
    # 10.00 + 2.95 + 2.00 = 14.95 together, less than the exclusive 15.00 alone
    got = verdicts(coupons_on(cart, [w10, m95, gift, big]))
    assert got["BIG"] == (True, 1500, "applied")
    assert {got[c][2] for c in ("W10", "M95", "GIFT")} == {"exclusive_other"}
    # at 14.00 the three together win
    cheaper = Coupon("BIG", "独享减14", "cash_off", off_fen=1400, exclusive=True)
    got = verdicts(coupons_on(cart, [w10, m95, gift, cheaper]))
    assert got["BIG"] == (False, 0, "exclusive")
    assert sum(got[c][1] for c in ("W10", "M95", "GIFT")) == 1495
    # one coupon per sale: the biggest alone
    got = verdicts(coupons_on(cart, [w10, m95, gift], max_per_sale=1))
    assert got["W10"][0] and got["M95"][2] == got["GIFT"][2] == "max_per_sale"


def test_a_coupon_that_does_not_stack_skips_promoted_lines() -> None:
    snacks = Promotion("SNACK90", "item_percent", "零食9折", categories=frozenset({"零食"}),
                       percent_off=10)
    solo = Coupon("SOLO", "不与促销同享", "percent", percent_off=10, with_promotions=False)
    result = coupons_on([CHIPS], [solo], promotions=[snacks])
    assert verdicts(result)["SOLO"] == (False, 0, "promotion_applied")
    result = coupons_on([CHIPS, WATER], [solo], promotions=[snacks])
    assert verdicts(result)["SOLO"] == (True, 60, "applied")   # only the water


def test_a_bad_coupon_body_is_refused_with_its_name() -> None:
    for body in ('{"kind": "cash_off"}', '{"kind": "magic"}', '{"kind": "percent",'
                 ' "percent_off": 120}', '{"kind": "gift"}', '[]'):
        try:
            coupon_from_row({"code": "BAD1", "label": "x", "body": body})
        except CouponError as err:
            assert "BAD1" in str(err)
        else:
            raise AssertionError(f"{body} was accepted")


# -- properties ------------------------------------------------------------------------------

PRODUCTS = (("P1", "饮料"), ("P2", "饮料"), ("P3", "零食"), ("P4", "乳制品"))


@st.composite
def carts(draw: st.DrawFn) -> list[LineInput]:
    lines = []
    for i in range(draw(st.integers(1, 5))):
        product, category = draw(st.sampled_from(PRODUCTS))
        price = draw(st.integers(0, 5000))
        member = draw(st.one_of(st.none(), st.integers(0, 5000)))
        override = draw(st.one_of(st.none(), st.none(), st.none(), st.integers(0, 3000)))
        lines.append(LineInput(f"l{i}", product, category, draw(st.integers(1, 4)), price,
                               member, price_override_fen=override))
    return lines


@st.composite
def coupon_sets(draw: st.DrawFn) -> list[Coupon]:
    coupons = []
    for i in range(draw(st.integers(0, 6))):
        kind: CouponKind = draw(st.sampled_from(("cash_off", "percent", "gift")))
        scope = draw(st.sampled_from(("basket", "item", "category")))
        product, category = draw(st.sampled_from(PRODUCTS))
        coupons.append(Coupon(
            code=f"C{i}", label=f"coupon {i}", kind=kind,
            off_fen=draw(st.integers(1, 5000)) if kind == "cash_off" else 0,
            percent_off=draw(st.integers(1, 100)) if kind == "percent" else 0,
            cap_fen=draw(st.one_of(st.none(), st.integers(1, 2000))) if kind == "percent"
            else None,
            gift_product_id=product if kind == "gift" else None,
            threshold_fen=draw(st.sampled_from((0, 0, 1000, 5000, 20000))),
            product_ids=frozenset({product}) if scope == "item" else frozenset(),
            categories=frozenset({category}) if scope == "category" else frozenset(),
            valid_from=draw(st.sampled_from((None, NOW - DAY, NOW + DAY))),
            valid_to=draw(st.sampled_from((None, NOW + DAY, NOW - DAY, NOW))),
            member_id=draw(st.sampled_from((None, None, "M1", "M2"))),
            not_for_member=draw(st.sampled_from((None, None, "M1"))),
            exclusive=draw(st.booleans()), with_promotions=draw(st.booleans()),
            redeemed=draw(st.sampled_from((False, False, False, True)))))
    return coupons


PROMOTIONS = [
    Promotion("PCT", "item_percent", "饮料9折", categories=frozenset({"饮料"}), percent_off=10),
    Promotion("MJ", "threshold", "满50减5", threshold_fen=5000, off_fen=500),
]
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _run(lines: list[LineInput], coupons: list[Coupon], member: str | None,
         max_per_sale: int) -> tuple[PricedCart, CouponPricedCart]:
    before = priced(lines, PROMOTIONS, member is not None)
    return before, apply_coupons(lines, before, coupons, member_id=member, now=NOW,
                                 max_per_sale=max_per_sale)


@SETTINGS
@given(carts(), coupon_sets(), st.sampled_from((None, "M1")), st.integers(1, 4))
def test_never_worse_than_any_single_legal_coupon(lines: list[LineInput],
                                                   coupons: list[Coupon], member: str | None,
                                                   max_per_sale: int) -> None:
    before, after = _run(lines, coupons, member, max_per_sale)
    saving = before.total_fen - after.total_fen
    for coupon in coupons:
        alone = apply_coupons(lines, before, [coupon], member_id=member, now=NOW,
                              max_per_sale=max_per_sale)
        assert saving >= before.total_fen - alone.total_fen, coupon


@SETTINGS
@given(carts(), coupon_sets(), st.sampled_from((None, "M1")), st.integers(1, 4))
def test_never_breaks_a_rule(lines: list[LineInput], coupons: list[Coupon],
                             member: str | None, max_per_sale: int) -> None:
    before, after = _run(lines, coupons, member, max_per_sale)
    applied = {v.code for v in after.coupons if v.applied}
    by_code = {c.code: c for c in coupons}
    assert len(applied) <= max_per_sale
    if any(by_code[c].exclusive for c in applied):
        assert len(applied) == 1
    promoted = {i for d in before.discounts if d.promotion_id != "member-price"
                for i in d.line_ids}
    nets = {pl.line_id: pl.net_fen for pl in before.lines}
    lines_by_id = {line.line_id: line for line in lines}
    for discount in after.discounts[len(before.discounts):]:
        coupon = by_code[discount.promotion_id.removeprefix(COUPON_PREFIX)]
        assert coupon.code in applied and discount.amount_fen > 0
        assert not coupon.redeemed
        assert coupon.valid_from is None or coupon.valid_from <= NOW
        assert coupon.valid_to is None or coupon.valid_to > NOW
        assert coupon.member_id in (None, member)
        assert coupon.not_for_member is None or coupon.not_for_member != member
        for line_id in discount.line_ids:
            line = lines_by_id[line_id]
            assert line.price_override_fen is None
            assert coupon.with_promotions or line_id not in promoted
            if coupon.kind == "gift":
                assert line.product_id == coupon.gift_product_id
            elif coupon.product_ids or coupon.categories:
                assert line.product_id in coupon.product_ids or \
                    line.category in coupon.categories
        if coupon.kind != "gift":
            scope = [line.line_id for line in lines if line.price_override_fen is None
                     and (not (coupon.product_ids or coupon.categories)
                          or line.product_id in coupon.product_ids
                          or line.category in coupon.categories)
                     and (coupon.with_promotions or line.line_id not in promoted)]
            assert sum(nets[i] for i in scope) >= coupon.threshold_fen
        if coupon.kind == "cash_off":
            assert discount.amount_fen <= coupon.off_fen
        if coupon.kind == "percent" and coupon.cap_fen is not None:
            assert discount.amount_fen <= coupon.cap_fen


@SETTINGS
@given(carts(), coupon_sets(), st.sampled_from((None, "M1")), st.integers(1, 4),
       st.randoms(use_true_random=False))
def test_integer_never_negative_and_deterministic(lines: list[LineInput],
                                                  coupons: list[Coupon], member: str | None,
                                                  max_per_sale: int,
                                                  rnd: random.Random) -> None:
    before, after = _run(lines, coupons, member, max_per_sale)
    assert after.total_fen >= 0 and type(after.total_fen) is int
    for line in after.lines:
        assert type(line.net_fen) is int and type(line.discount_fen) is int
        assert 0 <= line.net_fen <= line.base_fen
        assert line.base_fen - line.discount_fen == line.net_fen
    assert sum(d.amount_fen for d in after.discounts) == after.discount_fen
    assert after.subtotal_fen - after.discount_fen == after.total_fen
    assert sum(pl.net_fen for pl in after.lines) == after.total_fen
    shuffled = list(coupons)
    rnd.shuffle(shuffled)
    again = apply_coupons(lines, before, shuffled, member_id=member, now=NOW,
                          max_per_sale=max_per_sale)
    assert (again.lines, again.discounts, again.total_fen) == \
        (after.lines, after.discounts, after.total_fen)
    assert verdicts(again) == verdicts(after)
