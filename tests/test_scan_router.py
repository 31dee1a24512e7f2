"""The scan router: every string from every scanner becomes one typed, explainable scan."""

from __future__ import annotations

from typing import Any

import pytest
from biip.checksums import gs1_price_weight_check_digit
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.barcodes import BarcodeError, LabelFormat, check_digit, normalise_gtin
from edge.errors import ConfigError
from edge.scan_router import (
    BadgeScan,
    CouponCodeScan,
    ExitTokenScan,
    GuideCodeScan,
    MemberCodeScan,
    PaymentCodeScan,
    ProductScan,
    RejectedScan,
    ScanRules,
    UnknownScan,
    WeighedItemScan,
    route,
)

RULES = ScanRules()


def with_check(body: str) -> str:
    return body + str(check_digit(body))


@pytest.mark.parametrize(("text", "expected"), [
    ("BADGE:ATT-07", BadgeScan("BADGE:ATT-07", "ATT-07")),
    ("EXIT.eyJ.sig", ExitTokenScan("EXIT.eyJ.sig", "eyJ.sig")),
    ("134567890123456789", PaymentCodeScan("134567890123456789", "wechat", "134567890123456789")),
    ("287654321098765432", PaymentCodeScan("287654321098765432", "alipay", "287654321098765432")),
    ("MC10000001", MemberCodeScan("MC10000001", "10000001")),
    ("CPWELCOME10", CouponCodeScan("CPWELCOME10", "WELCOME10")),
    ("GD0042", GuideCodeScan("GD0042", "0042")),
    ("6901234500011", ProductScan("6901234500011", "06901234500011")),
    ("036000291452", ProductScan("036000291452", "00036000291452")),      # UPC-A
    ("96385074", ProductScan("96385074", "00000096385074")),              # EAN-8
    ("hello", UnknownScan("hello")),
    ("12345", UnknownScan("12345")),
])
def test_each_kind_in_design_order(text: str, expected: Any) -> None:
    assert route(text, RULES) == expected


def test_payment_code_shapes_need_length_and_prefix() -> None:
    assert isinstance(route("16" + "0" * 16, RULES), UnknownScan)    # prefix 16 is no wallet
    assert isinstance(route("13" + "0" * 15, RULES), UnknownScan)    # WeChat codes are 18 long
    for length in (16, 20, 24):
        scan = route("25" + "1" * (length - 2), RULES)
        assert isinstance(scan, PaymentCodeScan) and scan.provider == "alipay"


def test_upc_e_when_the_scanner_says_so() -> None:
    assert route("01234565", RULES, "]E0") == ProductScan("01234565", "00012345000065")
    assert route("01234565", RULES) == ProductScan("01234565", "00000001234565")  # EAN-8


def test_aim_prefix_in_the_text_is_split_off() -> None:
    assert route("]E06901234500011", RULES) == ProductScan("6901234500011", "06901234500011")


def test_gs1_element_strings_carry_weight_and_amount() -> None:
    hri = route("(01)06901234500011(3103)000532", RULES)
    assert hri == ProductScan("(01)06901234500011(3103)000532", "06901234500011", 532, None)
    raw = route("0106901234500011\x1d39220012801", RULES, "]C1")
    assert isinstance(raw, ProductScan) and raw.price_fen == 12801
    bad = route("(01)06901234500012", RULES)
    assert isinstance(bad, RejectedScan) and "check digit" in bad.reason


def test_variable_measure_labels() -> None:
    assert route(with_check("221000101280"), RULES) == WeighedItemScan(
        with_check("221000101280"), "10001", 1280, None)
    assert route(with_check("232000100532"), RULES) == WeighedItemScan(
        with_check("232000100532"), "20001", None, 532)
    # The verifier digit of a 5-digit price field, per the GS1 General Specifications.
    fmt = LabelFormat("24IIIIVPPPPPC")
    good_v = gs1_price_weight_check_digit("01280")
    code = with_check(f"241000{good_v}01280")
    assert route(code, RULES) == WeighedItemScan(code, "1000", 1280, None)
    wrong = with_check(f"241000{(good_v + 1) % 10}01280")
    scan = route(wrong, RULES)
    assert isinstance(scan, RejectedScan) and "verifier" in scan.reason
    assert fmt.prefix == "24"


def test_a_prefix_2_code_with_no_format_is_an_in_store_product() -> None:
    code = with_check("290000000017")
    assert route(code, RULES) == ProductScan(code, "0" + code)


def test_jiao_priced_labels_from_config() -> None:
    rules = ScanRules.from_mapping(
        {"label_formats": [{"template": "22IIIIIPPPPPC", "price_unit_fen": 10}]})
    scan = route(with_check("221000100128"), rules)
    assert isinstance(scan, WeighedItemScan) and scan.price_fen == 1280


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("   \r\n", "empty"),
    ("9" * 257, "longer than 256"),
    ("6901\x00234500011", "control character 0x00"),
    ("abc\x1bdef", "control character 0x1b"),
    ("MC", "malformed"),
    ("MC<script>", "malformed"),
    ("6901234500012", "bad check digit: got 2, expected 1"),
    (with_check("221000101280")[:-1] + "0", "bad check digit"),
])
def test_rejections_say_why(text: str, reason: str) -> None:
    scan = route(text, RULES)
    assert isinstance(scan, RejectedScan)
    assert reason in scan.reason


@pytest.mark.parametrize(("data", "key"), [
    ({"colour": "red"}, "scan.colour"),
    ({"max_length": 0}, "scan.max_length"),
    ({"member_prefixes": ["69"]}, "scan.member_prefixes"),
    ({"wechat_prefix_range": [15, 10]}, "scan.wechat_prefix_range"),
    ({"label_formats": [{"template": "22IIIIIPPPPC"}]}, "scan.label_formats[0].template"),
    ({"label_formats": [{"template": "12IIIIIPPPPPC"}]}, "scan.label_formats[0].template"),
])
def test_bad_rules_name_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        ScanRules.from_mapping(data)
    assert err.value.key == key


@settings(max_examples=500)
@given(st.text(max_size=300) | st.from_regex(r"\A[0-9]{6,24}\Z") | st.binary(max_size=80).map(
    lambda b: b.decode("latin-1")))
def test_route_never_raises(text: str) -> None:
    scan = route(text, RULES)
    assert scan is not None
    if isinstance(scan, RejectedScan):
        assert scan.reason


gtin_bodies = st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n))


@settings(max_examples=300)
@given(gtin_bodies, st.integers(1, 9))
def test_any_altered_check_digit_is_rejected_naming_the_expected_digit(
    body: str, shift: int
) -> None:
    good = with_check(body)
    assert normalise_gtin(good) == good.rjust(14, "0")
    bad = body + str((int(good[-1]) + shift) % 10)
    with pytest.raises(BarcodeError, match=f"expected {good[-1]}"):
        normalise_gtin(bad)


@settings(max_examples=300)
@given(gtin_bodies)
def test_normalisation_round_trips(body: str) -> None:
    code = with_check(body)
    gtin14 = normalise_gtin(code)
    assert len(gtin14) == 14 and gtin14.lstrip("0") == code.lstrip("0")
    assert normalise_gtin(gtin14) == gtin14
