"""The pricing engine charges what a store manager would work out by hand, and never more."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.pricing import (
    MEMBER_PRICE_ID,
    LineInput,
    PricedCart,
    PricingError,
    Promotion,
    PromotionKind,
    price_cart,
)

NOW = dt.datetime(2025, 6, 18, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
EXAMPLES = 300
PROPERTY = settings(max_examples=EXAMPLES, deadline=None)


def unit(line_id: str, price_fen: int, qty: int = 1, *, product: str = "",
         category: str = "grocery", member_fen: int | None = None) -> LineInput:
    return LineInput(line_id, product or line_id, category, qty, price_fen,
                     member_price_fen=member_fen)


def priced(lines: list[LineInput], promotions: list[Promotion] | None = None,
           *, member: bool = False, now: dt.datetime = NOW) -> PricedCart:
    return price_cart(lines, promotions or [], is_member=member, now=now)


def net_of(cart: PricedCart, line_id: str) -> int:
    return next(line.net_fen for line in cart.lines if line.line_id == line_id)


MAN_100_JIAN_20 = Promotion("man100", "threshold", "满100减20", threshold_fen=10000, off_fen=2000)
BUY_2_GET_1 = Promotion("drinks-b2g1", "buy_n_get_m", "饮料买二送一",
                        categories=frozenset({"饮料"}), buy_n=2, get_m=1)
BA_ZHE = Promotion("dairy-80", "item_percent", "乳品8折", categories=frozenset({"乳品"}),
                   percent_off=20)


# ---- what a store manager would recognise -------------------------------------------------


def test_man_100_jian_20_takes_20_yuan_once_from_a_250_yuan_basket() -> None:
    cart = priced([unit("rice", 15000), unit("oil", 10000)], [MAN_100_JIAN_20])
    assert (cart.subtotal_fen, cart.discount_fen, cart.total_fen) == (25000, 2000, 23000)
    assert [(d.label, d.amount_fen) for d in cart.discounts] == [("满100减20", 2000)]


def test_repeatable_man_100_jian_20_takes_40_yuan_from_a_250_yuan_basket() -> None:
    repeatable = dataclasses.replace(MAN_100_JIAN_20, repeatable=True)
    cart = priced([unit("rice", 15000), unit("oil", 10000)], [repeatable])
    assert cart.total_fen == 21000
    assert cart.discounts[0].line_ids == ("rice", "oil")


def test_repeatable_threshold_stops_at_its_max_times() -> None:
    capped = dataclasses.replace(MAN_100_JIAN_20, repeatable=True, max_times=1)
    assert priced([unit("tv", 35000)], [capped]).discount_fen == 2000


def test_a_basket_one_fen_short_of_the_threshold_gets_nothing() -> None:
    cart = priced([unit("rice", 9999)], [MAN_100_JIAN_20])
    assert (cart.total_fen, cart.discounts) == (9999, ())


def test_threshold_discount_is_shared_by_largest_remainder_and_adds_up() -> None:
    cart = priced([unit("a", 3333), unit("b", 3333), unit("c", 3334)], [MAN_100_JIAN_20])
    assert [line.discount_fen for line in cart.lines] == [667, 666, 667]


def test_buy_2_get_1_makes_one_of_three_5_yuan_drinks_free() -> None:
    cart = priced([unit("cola", 500, 3, category="饮料")], [BUY_2_GET_1])
    assert cart.total_fen == 1000
    assert [(d.label, d.amount_fen, d.line_ids) for d in cart.discounts] == [
        ("饮料买二送一", 500, ("cola",))
    ]


def test_buy_2_get_1_gives_the_cheapest_drink_and_needs_a_full_group() -> None:
    lines = [
        unit("juice", 400, category="饮料"),
        unit("tea", 600, 2, category="饮料"),
        unit("cola", 500, 2, category="饮料"),
        unit("bread", 100),
    ]
    cart = priced(lines, [BUY_2_GET_1])
    # Dearest first: tea tea cola | cola juice -- only the first group is full.
    assert [line.discount_fen for line in cart.lines] == [0, 0, 500, 0]


def test_member_price_on_milk_in_the_middle_of_the_cart() -> None:
    lines = [unit("bread", 850), unit("牛奶", 1290, 2, member_fen=990), unit("eggs", 1590)]
    member = priced(lines, member=True)
    assert [line.net_fen for line in member.lines] == [850, 1980, 1590]
    assert [(d.promotion_id, d.label, d.line_ids) for d in member.discounts] == [
        (MEMBER_PRICE_ID, "会员价", ("牛奶",))
    ]
    assert priced(lines, member=False).total_fen == 850 + 2580 + 1590


def test_the_better_of_8_zhe_and_member_price_wins_never_both() -> None:
    good_member_price = unit("牛奶", 1290, category="乳品", member_fen=990)
    cart = priced([good_member_price], [BA_ZHE], member=True)
    assert (cart.total_fen, [d.label for d in cart.discounts]) == (990, ["会员价"])

    poor_member_price = dataclasses.replace(good_member_price, member_price_fen=1190)
    cart = priced([poor_member_price], [BA_ZHE], member=True)
    assert (cart.total_fen, [d.label for d in cart.discounts]) == (1032, ["乳品8折"])


def test_a_weighed_line_rounds_half_up_to_the_fen() -> None:
    pork = LineInput("pork", "pork", "meat", 1, 2580, weight_g=532)
    assert priced([pork]).lines[0].base_fen == 1373  # 0.532 kg x 25.80 = 13.7256 yuan
    exactly_half = LineInput("x", "x", "meat", 1, 1001, weight_g=500)  # 500.5 fen
    assert priced([exactly_half]).total_fen == 501


def test_a_member_price_on_a_weighed_line_uses_the_same_rounding() -> None:
    pork = LineInput("pork", "pork", "meat", 1, 2580, member_price_fen=2280, weight_g=532)
    assert priced([pork], member=True).total_fen == 1213  # 0.532 x 22.80 = 12.1296


def test_a_scale_label_amount_wins_over_weight_times_price() -> None:
    apples = LineInput("apples", "apples", "fruit", 1, 1200, weight_g=1500,
                       label_amount_fen=1834, member_price_fen=1000)
    assert priced([apples]).total_fen == 1834
    assert priced([apples], member=True).total_fen == 1528  # 1834 x 10.00 / 12.00


def test_a_price_override_line_gets_no_member_price_or_promotion() -> None:
    lines = [
        unit("rice", 9000),
        LineInput("milk", "milk", "乳品", 2, 1290, member_price_fen=990, price_override_fen=1000),
    ]
    cart = priced(lines, [MAN_100_JIAN_20, BA_ZHE], member=True)
    # 90 yuan of rice plus 20 of overridden milk does not reach the 100-yuan threshold.
    assert (cart.total_fen, cart.discounts) == (11000, ())


def test_buy_n_get_m_leaves_weighed_lines_alone() -> None:
    everything = Promotion("b1g1", "buy_n_get_m", "买一送一", buy_n=1, get_m=1)
    lines = [LineInput("pork", "pork", "meat", 1, 2580, weight_g=1000), unit("salt", 300)]
    assert priced(lines, [everything]).total_fen == 2580 + 300


@pytest.mark.parametrize(
    ("window", "applies"),
    [
        ((None, None), True),
        ((NOW, None), True),
        ((None, NOW), False),
        ((NOW + dt.timedelta(seconds=1), None), False),
        ((NOW - dt.timedelta(days=7), NOW - dt.timedelta(days=1)), False),
    ],
)
def test_a_promotion_applies_only_inside_its_time_window(
    window: tuple[dt.datetime | None, dt.datetime | None], applies: bool
) -> None:
    promo = dataclasses.replace(MAN_100_JIAN_20, starts_at=window[0], ends_at=window[1])
    assert priced([unit("rice", 10000)], [promo]).total_fen == (8000 if applies else 10000)


def test_a_members_only_promotion_waits_for_the_member_to_be_recognised() -> None:
    promo = dataclasses.replace(MAN_100_JIAN_20, members_only=True)
    assert priced([unit("rice", 10000)], [promo], member=False).total_fen == 10000
    assert priced([unit("rice", 10000)], [promo], member=True).total_fen == 8000


def test_threshold_counts_what_is_left_after_buy_n_get_m() -> None:
    drinks = unit("cola", 500, 3, category="饮料")
    enough = priced([drinks, unit("rice", 9000)], [MAN_100_JIAN_20, BUY_2_GET_1])
    assert enough.total_fen == 8000
    assert [d.label for d in enough.discounts] == ["饮料买二送一", "满100减20"]
    short = priced([drinks, unit("rice", 8999)], [MAN_100_JIAN_20, BUY_2_GET_1])
    assert short.total_fen == 9999


def test_equal_item_savings_go_to_higher_priority_then_smaller_id() -> None:
    low = Promotion("a-low", "item_percent", "九折A", percent_off=10)
    high = dataclasses.replace(low, id="z-high", label="九折Z", priority=5)
    twin = dataclasses.replace(low, id="b-low", label="九折B")
    assert [d.label for d in priced([unit("tea", 1000)], [low, high]).discounts] == ["九折Z"]
    assert [d.label for d in priced([unit("tea", 1000)], [twin, low]).discounts] == ["九折A"]


def test_buy_n_get_m_promotions_apply_in_priority_order_on_what_is_left() -> None:
    first = Promotion("first", "buy_n_get_m", "买一送一", buy_n=1, get_m=1, priority=1)
    second = Promotion("second", "buy_n_get_m", "买二送一", buy_n=2, get_m=1)
    cart = priced([unit("cola", 600, 2), unit("tea", 400, 1)], [second, first])
    # 买一送一 frees one cola; 买二送一 then sees the tea at 4 yuan and the colas' remaining
    # 6 yuan spread as 3 + 3, and frees a 3-yuan cola.
    assert [(d.promotion_id, d.amount_fen) for d in cart.discounts] == [
        ("first", 600), ("second", 300)]
    assert cart.total_fen == 700


@pytest.mark.parametrize(
    ("lines", "promotions", "named"),
    [
        ([unit("a", -1)], [], "'a'"),
        ([unit("a", 100, 0)], [], "'a'"),
        ([unit("a", 100, -2)], [], "'a'"),
        ([unit("a", 100, member_fen=-5)], [], "'a'"),
        ([LineInput("w", "w", "c", 1, 100, weight_g=-1)], [], "'w'"),
        ([LineInput("w", "w", "c", 2, 100, weight_g=500)], [], "'w'"),
        ([LineInput("o", "o", "c", 1, 100, price_override_fen=-1)], [], "'o'"),
        ([LineInput("l", "l", "c", 1, 100, label_amount_fen=-1)], [], "'l'"),
        ([unit("a", 100), unit("a", 200)], [], "'a'"),
        ([], [Promotion("p", "item_percent", "x", percent_off=0)], "'p'"),
        ([], [Promotion("p", "item_percent", "x", percent_off=101)], "'p'"),
        ([], [Promotion("p", "buy_n_get_m", "x", buy_n=0, get_m=1)], "'p'"),
        ([], [Promotion("p", "buy_n_get_m", "x", buy_n=2, get_m=0)], "'p'"),
        ([], [Promotion("p", "threshold", "x", threshold_fen=0, off_fen=1)], "'p'"),
        ([], [Promotion("p", "threshold", "x", threshold_fen=100, off_fen=-1)], "'p'"),
        ([], [dataclasses.replace(MAN_100_JIAN_20, id="p", max_times=0)], "'p'"),
        ([], [MAN_100_JIAN_20, MAN_100_JIAN_20], "'man100'"),
        ([], [dataclasses.replace(BA_ZHE, id=MEMBER_PRICE_ID)], MEMBER_PRICE_ID),
        ([], [dataclasses.replace(MAN_100_JIAN_20, starts_at=dt.datetime(2025, 1, 1))],
         "'man100'"),
    ],
)
def test_invalid_input_is_refused_naming_the_line_or_promotion(
    lines: list[LineInput], promotions: list[Promotion], named: str
) -> None:
    with pytest.raises(PricingError, match=named):
        priced(lines, promotions)


def test_a_float_or_bool_amount_is_refused_not_carried_into_the_total() -> None:
    with pytest.raises(PricingError, match="unit_price_fen"):
        priced([unit("a", 12.5)])  # type: ignore[arg-type]
    with pytest.raises(PricingError, match="qty"):
        priced([unit("a", 100, True)])


# ---- properties over random carts ----------------------------------------------------------

PRODUCTS = ("p0", "p1", "p2", "p3")
CATEGORIES = ("乳品", "饮料", "生鲜")


@st.composite
def cart_lines(draw: st.DrawFn, *, counted_only: bool = False) -> list[LineInput]:
    lines: list[LineInput] = []
    for n in range(draw(st.integers(0, 8))):
        shape = "counted" if counted_only else draw(
            st.sampled_from(["counted", "counted", "weighed", "labelled", "override"]))
        qty = 1 if shape in ("weighed", "labelled") else draw(st.integers(1, 6))
        lines.append(LineInput(
            line_id=f"L{n}",
            product_id=draw(st.sampled_from(PRODUCTS)),
            category=draw(st.sampled_from(CATEGORIES)),
            qty=qty,
            unit_price_fen=draw(st.integers(0, 6000)),
            member_price_fen=draw(st.none() | st.integers(0, 6000)),
            weight_g=draw(st.integers(0, 3000)) if shape == "weighed" else None,
            label_amount_fen=draw(st.integers(0, 9000)) if shape == "labelled" else None,
            price_override_fen=draw(st.integers(0, 6000)) if shape == "override" else None,
        ))
    return lines


@st.composite
def promotion_sets(draw: st.DrawFn, kinds: tuple[PromotionKind, ...] = (
        "item_percent", "buy_n_get_m", "threshold")) -> list[Promotion]:
    promotions: list[Promotion] = []
    for n in range(draw(st.integers(0, 5))):
        day = dt.timedelta(days=1)
        promotions.append(Promotion(
            id=f"P{draw(st.integers(0, 9))}{n}",
            kind=draw(st.sampled_from(kinds)),
            label=f"促销{n}",
            product_ids=frozenset(draw(st.lists(st.sampled_from(PRODUCTS), max_size=2))),
            categories=frozenset(draw(st.lists(st.sampled_from(CATEGORIES), max_size=2))),
            percent_off=draw(st.integers(1, 100)),
            buy_n=draw(st.integers(1, 4)),
            get_m=draw(st.integers(1, 3)),
            threshold_fen=draw(st.integers(1, 20000)),
            off_fen=draw(st.integers(1, 6000)),
            repeatable=draw(st.booleans()),
            max_times=draw(st.none() | st.integers(1, 3)),
            members_only=draw(st.booleans()),
            starts_at=draw(st.sampled_from([None, NOW - day, NOW + day])),
            ends_at=draw(st.sampled_from([None, NOW, NOW + day])),
            priority=draw(st.integers(-2, 2)),
        ))
    return promotions


def half_up(amount: Fraction) -> int:
    return math.floor(amount + Fraction(1, 2))


def expected_base(line: LineInput) -> int:
    if line.price_override_fen is not None:
        return line.qty * line.price_override_fen
    if line.label_amount_fen is not None:
        return line.label_amount_fen
    if line.weight_g is not None:
        return half_up(Fraction(line.weight_g * line.unit_price_fen, 1000))
    return line.qty * line.unit_price_fen


def every_number(cart: PricedCart) -> list[object]:
    numbers: list[object] = [cart.subtotal_fen, cart.discount_fen, cart.total_fen]
    for line in cart.lines:
        numbers += [line.base_fen, line.discount_fen, line.net_fen]
    return numbers + [d.amount_fen for d in cart.discounts]


@PROPERTY
@given(cart_lines(), promotion_sets(), st.booleans())
def test_any_cart_adds_up_and_never_goes_negative(
    lines: list[LineInput], promotions: list[Promotion], member: bool
) -> None:
    cart = priced(lines, promotions, member=member)
    assert all(type(n) is int for n in every_number(cart))
    assert [line.line_id for line in cart.lines] == [line.line_id for line in lines]
    for given_line, line in zip(lines, cart.lines, strict=True):
        assert line.base_fen == expected_base(given_line)
        assert 0 <= line.discount_fen <= line.base_fen
        assert line.net_fen == line.base_fen - line.discount_fen
    assert cart.subtotal_fen == sum(line.base_fen for line in cart.lines)
    assert cart.discount_fen == sum(d.amount_fen for d in cart.discounts)
    assert cart.discount_fen == sum(line.discount_fen for line in cart.lines)
    assert cart.total_fen == cart.subtotal_fen - cart.discount_fen >= 0
    assert all(d.amount_fen > 0 for d in cart.discounts)
    position = {line.line_id: k for k, line in enumerate(lines)}
    overridden = {line.line_id for line in lines if line.price_override_fen is not None}
    for d in cart.discounts:
        positions = [position[line_id] for line_id in d.line_ids]
        assert positions == sorted(set(positions))
        assert not overridden & set(d.line_ids)


@PROPERTY
@given(cart_lines(), promotion_sets(), st.booleans(), st.data())
def test_the_same_cart_prices_the_same_whatever_the_promotion_order(
    lines: list[LineInput], promotions: list[Promotion], member: bool, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(promotions))
    first = priced(lines, promotions, member=member)
    assert priced(lines, promotions, member=member) == first
    assert priced(lines, shuffled, member=member) == first


@PROPERTY
@given(cart_lines())
def test_without_promotions_or_membership_the_shopper_pays_the_shelf_amounts(
    lines: list[LineInput],
) -> None:
    cart = priced(lines, member=False)
    assert cart.total_fen == sum(expected_base(line) for line in lines)
    assert cart.discounts == ()


def best_item_saving(line: LineInput, promotions: list[Promotion], member: bool) -> int:
    base = expected_base(line)
    if line.price_override_fen is not None:
        return 0
    savings = [0]
    for promo in promotions:
        everything = not promo.product_ids and not promo.categories
        if everything or line.product_id in promo.product_ids or (
                line.category in promo.categories):
            savings.append(math.floor(Fraction(base * promo.percent_off, 100)))
    cheaper = line.member_price_fen
    if member and cheaper is not None and cheaper < line.unit_price_fen:
        at_member = dataclasses.replace(line, unit_price_fen=cheaper, label_amount_fen=None)
        if line.label_amount_fen is not None:
            savings.append(base - half_up(Fraction(base * cheaper, line.unit_price_fen)))
        else:
            savings.append(base - expected_base(at_member))
    return max(savings)


def in_window(promotions: list[Promotion]) -> list[Promotion]:
    return [p for p in promotions if (p.starts_at is None or p.starts_at <= NOW)
            and (p.ends_at is None or p.ends_at > NOW)]


@PROPERTY
@given(cart_lines(), promotion_sets(("item_percent",)), st.booleans())
def test_each_line_gets_its_single_best_item_level_saving(
    lines: list[LineInput], promotions: list[Promotion], member: bool
) -> None:
    active = [p for p in in_window(promotions) if member or not p.members_only]
    cart = priced(lines, promotions, member=member)
    for line, out in zip(lines, cart.lines, strict=True):
        assert out.discount_fen == best_item_saving(line, active, member)
    assert all(len(d.line_ids) >= 1 for d in cart.discounts)
    assert len({i for d in cart.discounts for i in d.line_ids}) == sum(
        len(d.line_ids) for d in cart.discounts)


def units_freed(lines: list[LineInput], nets: dict[str, int], buy_n: int, get_m: int
                ) -> dict[str, int]:
    """Work buy N get M out unit by unit, the way the rule is written for a store manager."""
    units: list[tuple[int, str]] = []
    for line in lines:
        each, odd = divmod(nets[line.line_id], line.qty)
        units += [(each + (u < odd), line.line_id) for u in range(line.qty)]
    units.sort(key=lambda u: -u[0])
    freed: dict[str, int] = defaultdict(int)
    group = buy_n + get_m
    for start in range(0, len(units) - group + 1, group):
        for price, line_id in units[start + buy_n:start + group]:
            freed[line_id] += price
    return freed


@PROPERTY
@given(cart_lines(counted_only=True), promotion_sets(("item_percent",)),
       st.tuples(st.integers(1, 4), st.integers(1, 3)),
       st.sampled_from([(), ("饮料",), ("乳品", "生鲜")]), st.booleans())
def test_buy_n_get_m_frees_the_cheapest_unit_of_every_full_group(
    lines: list[LineInput], item_promotions: list[Promotion], n_and_m: tuple[int, int],
    categories: tuple[str, ...], member: bool,
) -> None:
    buy_n, get_m = n_and_m
    promo = Promotion("bxgy", "buy_n_get_m", "买N送M", categories=frozenset(categories),
                      buy_n=buy_n, get_m=get_m)
    before = priced(lines, item_promotions, member=member)
    after = priced(lines, [*item_promotions, promo], member=member)
    nets = {line.line_id: line.net_fen for line in before.lines}
    scoped = [x for x in lines if not categories or x.category in categories]
    freed = units_freed(scoped, nets, buy_n, get_m)
    for old, new in zip(before.lines, after.lines, strict=True):
        assert old.net_fen - new.net_fen == freed.get(old.line_id, 0)


@PROPERTY
@given(cart_lines(), st.integers(1, 20000), st.integers(1, 6000), st.booleans(),
       st.none() | st.integers(1, 3))
def test_a_threshold_is_shared_in_proportion_within_one_fen(
    lines: list[LineInput], threshold: int, off: int, repeatable: bool, max_times: int | None
) -> None:
    promo = Promotion("t", "threshold", "满减", threshold_fen=threshold, off_fen=off,
                      repeatable=repeatable, max_times=max_times)
    cart = priced(lines, [promo])
    bases = {x.line_id: expected_base(x) for x in lines if x.price_override_fen is None}
    eligible = sum(bases.values())
    times = 0 if eligible < threshold else 1
    if times and repeatable:
        times = min(eligible // threshold, max_times or eligible)
    expected_off = min(times * off, eligible)
    assert cart.discount_fen == expected_off
    for line in cart.lines:
        if line.line_id in bases:
            exact = Fraction(expected_off * bases[line.line_id], eligible or 1)
            assert abs(line.discount_fen - exact) < 1
        else:
            assert line.discount_fen == 0
