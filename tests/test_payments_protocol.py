"""The wire formats: signatures as the official docs compute them, hostile answers refused."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.payments.alipay import (
    fen_to_yuan,
    read_cancel,
    read_node,
    read_pay,
    read_query,
    rsa2_sign,
    rsa2_verify,
    signing_string,
    top_level,
    yuan_to_fen,
)
from edge.payments.base import (
    Declined,
    Paid,
    PaymentError,
    PaymentOrder,
    ProviderBusy,
    ProviderGarbage,
    SignatureMismatch,
    UserPaying,
)
from edge.payments.wechatpay import (
    parse_xml,
    read_micropay,
    read_orderquery,
    read_reverse,
    sign_v2,
    to_xml,
)
from tests.payments_support import keys

# The signing example of the WeChat Pay v2 docs (签名算法, "举例").
DOC_PARAMS = {"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000",
              "body": "test", "nonce_str": "ibuaiVcKdpRxkhJA"}
DOC_KEY = "192006250b4c09247ec02edce69f6a2d"
ORDER = PaymentOrder("20261122abcdef", 6700, "134567890123456789", "测试店")
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def test_sign_v2_matches_the_official_md5_example() -> None:
    assert sign_v2(DOC_PARAMS, DOC_KEY, "MD5") == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_sign_v2_matches_the_official_hmac_sha256_example() -> None:
    expected = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    assert sign_v2(DOC_PARAMS, DOC_KEY, "HMAC-SHA256") == expected
    assert sign_v2(DOC_PARAMS, DOC_KEY) == expected  # HMAC-SHA256 is the default


def test_sign_v2_skips_empty_values_and_sign_and_ignores_order() -> None:
    shuffled = dict(reversed(list(DOC_PARAMS.items())))
    noisy = {**shuffled, "sign": "WHATEVER", "attach": "", "detail": None}
    assert sign_v2(noisy, DOC_KEY, "MD5") == "9A0A8659F005D6984697E2CA0A9CF3B7"
    assert sign_v2({**DOC_PARAMS, "body": "test2"}, DOC_KEY, "MD5") != \
        "9A0A8659F005D6984697E2CA0A9CF3B7"
    with pytest.raises(ValueError, match="sign_type"):
        sign_v2(DOC_PARAMS, DOC_KEY, "SHA1")


def test_xml_round_trip_escapes_what_needs_escaping() -> None:
    params = {"body": "测试店-<零食>&饮料", "total_fee": 6700, "attach": ""}
    body = to_xml(params)
    assert body.startswith(b"<xml><body>") and b"<attach>" not in body
    assert parse_xml(body) == {"body": "测试店-<零食>&饮料", "total_fee": "6700"}


XXE_PAYLOADS = [
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<xml><return_code>&x;</return_code></xml>",
    b'<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><return_code>&c;</return_code></xml>',
    b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><xml/>',
    b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><a>1</a></xml>',
]


@pytest.mark.parametrize("payload", XXE_PAYLOADS)
def test_xxe_and_entity_expansion_are_refused(payload: bytes) -> None:
    with pytest.raises(ProviderGarbage):
        parse_xml(payload)


@pytest.mark.parametrize("payload", [
    b"", b"not xml", b"<html><body>502</body></html>", b"<xml><a><b>1</b></a></xml>",
    b'<xml><a x="1">1</a></xml>', b"<xml><a>1</a><a>2</a></xml>", b"<xml>text<a>1</a></xml>",
    b"<xml><A>1</A></xml>", b"<xml><a>1</a>tail</xml>", b"\xff\xfe<xml/>",
    b"<xml>" + b"<a>1</a>" * 2 + b"</xml>", b"<xml><v>" + b"x" * 9000 + b"</v></xml>",
])
def test_malformed_messages_are_refused_clearly(payload: bytes) -> None:
    with pytest.raises(ProviderGarbage):
        parse_xml(payload)


def test_oversized_answer_is_refused_before_parsing() -> None:
    with pytest.raises(ProviderGarbage, match="over"):
        parse_xml(b"<xml>" + b" " * 70_000 + b"</xml>", max_bytes=65_536)


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_parse_xml_never_crashes_on_bytes(data: bytes) -> None:
    try:
        fields = parse_xml(data)
    except ProviderGarbage:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())


_TAGS = st.sampled_from(["return_code", "result_code", "err_code", "sign", "total_fee",
                         "transaction_id", "out_trade_no", "x", "!DOCTYPE", "a b", "&x;"])


@FUZZ
@given(st.lists(st.tuples(_TAGS, st.text(max_size=40)), max_size=12), st.text(max_size=20))
def test_fuzz_parse_xml_never_crashes_on_near_miss_documents(
    items: list[tuple[str, str]], junk: str
) -> None:
    text = "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in items) + junk + "</xml>"
    with contextlib.suppress(ProviderGarbage):
        parse_xml(text.encode("utf-8", "surrogatepass"))


_ANSWER_FIELDS = st.dictionaries(
    st.sampled_from(["return_code", "result_code", "err_code", "err_code_des", "total_fee",
                     "transaction_id", "out_trade_no", "trade_state", "recall", "extra"]),
    st.one_of(st.sampled_from(["SUCCESS", "FAIL", "USERPAYING", "SYSTEMERROR", "NOTENOUGH",
                               "6700", "-1", "99999999999999", ORDER.out_trade_no, "4200x"]),
              st.text(max_size=30)),
    max_size=10)


@FUZZ
@given(_ANSWER_FIELDS, st.booleans())
def test_fuzz_micropay_answers_end_in_an_answer_or_a_payment_error(
    fields: dict[str, str], signed: bool
) -> None:
    if signed:
        fields = {**fields, "sign": sign_v2(fields, DOC_KEY)}
    try:
        body = to_xml(fields)
    except ValueError:
        return
    try:
        answer = read_micropay(body, DOC_KEY, "HMAC-SHA256", ORDER)
    except PaymentError:
        return
    # Only a signed success naming this order and amount counts as paid.
    if isinstance(answer, Paid):
        assert signed and fields["result_code"] == "SUCCESS"
        assert fields["out_trade_no"] == ORDER.out_trade_no and answer.amount_fen == 6700
    assert isinstance(answer, Paid | UserPaying | Declined)


@FUZZ
@given(_ANSWER_FIELDS)
def test_fuzz_query_and_reverse_answers_end_in_an_answer_or_a_payment_error(
    fields: dict[str, str]
) -> None:
    signed = {**fields, "sign": sign_v2(fields, DOC_KEY)}
    try:
        body = to_xml(signed)
    except ValueError:
        return
    for read in (lambda: read_orderquery(body, DOC_KEY, "HMAC-SHA256",
                                         out_trade_no=ORDER.out_trade_no, amount_fen=6700),
                 lambda: read_reverse(body, DOC_KEY, "HMAC-SHA256")):
        with contextlib.suppress(PaymentError):
            read()


_ALIPAY_FIELDS = st.dictionaries(
    st.sampled_from(["code", "msg", "sub_code", "trade_no", "out_trade_no", "total_amount",
                     "trade_status", "retry_flag", "action"]),
    st.one_of(st.sampled_from(["10000", "10003", "20000", "40004", "ACQ.TRADE_NOT_EXIST",
                               "ACQ.SYSTEM_ERROR", "TRADE_SUCCESS", "WAIT_BUYER_PAY",
                               "TRADE_CLOSED", "Y", "N", "67.00", "0.01", "1e3",
                               ORDER.out_trade_no]),
              st.text(max_size=20)),
    max_size=9)


@FUZZ
@given(_ALIPAY_FIELDS)
def test_fuzz_alipay_readers_end_in_an_answer_or_a_payment_error(
    fields: dict[str, str]
) -> None:
    fields = {"code": "10000", **fields}
    for read in (lambda: read_pay(fields, ORDER),
                 lambda: read_query(fields, ORDER.out_trade_no, 6700),
                 lambda: read_cancel(fields)):
        try:
            answer = read()
        except PaymentError:
            continue
        if isinstance(answer, Paid):  # only this order, at this amount
            assert fields["out_trade_no"] == ORDER.out_trade_no
            assert fields["total_amount"] == "67.00"


def test_an_unsigned_or_wrongly_signed_success_is_never_believed() -> None:
    paid = {"return_code": "SUCCESS", "result_code": "SUCCESS", "total_fee": "6700",
            "out_trade_no": ORDER.out_trade_no, "transaction_id": "4200000001"}
    with pytest.raises(SignatureMismatch):
        read_micropay(to_xml(paid), DOC_KEY, "HMAC-SHA256", ORDER)
    forged = {**paid, "sign": sign_v2(paid, "another-merchant-key-000000000000")}
    with pytest.raises(SignatureMismatch):
        read_micropay(to_xml(forged), DOC_KEY, "HMAC-SHA256", ORDER)
    wrong_amount = {**paid, "total_fee": "1"}
    with pytest.raises(ProviderGarbage, match="total_fee"):
        read_micropay(to_xml({**wrong_amount, "sign": sign_v2(wrong_amount, DOC_KEY)}),
                      DOC_KEY, "HMAC-SHA256", ORDER)
    # The return code alone decides nothing: FAIL is unsigned, so the order must be queried.
    with pytest.raises(ProviderBusy):
        read_micropay(to_xml({"return_code": "FAIL", "return_msg": "签名错误"}), DOC_KEY,
                      "HMAC-SHA256", ORDER)


# -- Alipay -----------------------------------------------------------------------------------


def test_alipay_signing_string_is_sorted_and_skips_sign_and_empty_values() -> None:
    params = {"method": "alipay.trade.pay", "app_id": "2014072300007148", "sign": "x",
              "charset": "utf-8", "notify_url": "", "biz_content": '{"a":"1"}'}
    assert signing_string(params) == ('app_id=2014072300007148&biz_content={"a":"1"}'
                                      "&charset=utf-8&method=alipay.trade.pay")


def test_rsa2_sign_and_verify_and_tampering() -> None:
    text = signing_string({"app_id": "1", "biz_content": '{"total_amount":"67.00"}'})
    sign = rsa2_sign(text, keys().app)
    rsa2_verify(text, sign, keys().app.public_key())
    with pytest.raises(SignatureMismatch):
        rsa2_verify(text.replace("67.00", "0.01"), sign, keys().app.public_key())
    with pytest.raises(SignatureMismatch):
        rsa2_verify(text, "not base64!", keys().app.public_key())


def _answer(node_text: str, sign_over: str | None = None) -> bytes:
    sign = rsa2_sign(sign_over or node_text, keys().gateway)
    return ('{"alipay_trade_pay_response":' + node_text + ',"sign":"' + sign + '"}').encode()


def test_alipay_answer_is_verified_over_the_exact_node_text() -> None:
    # Spacing and \u escapes as the gateway sent them are what it signed.
    node = '{ "code":"10000", "msg":"Success", "sub_msg":"\\u652f\\u4ed8" }'
    fields = read_node(_answer(node), "alipay.trade.pay", keys().gateway.public_key())
    assert fields["code"] == "10000" and fields["sub_msg"] == "支付"
    # The same node re-serialised (what a naive client would verify) does not match.
    canonical = json.dumps(json.loads(node), separators=(",", ":"))
    with pytest.raises(SignatureMismatch):
        read_node(_answer(node, sign_over=canonical), "alipay.trade.pay",
                  keys().gateway.public_key())
    unsigned = b'{"alipay_trade_pay_response":{"code":"10000"}}'
    with pytest.raises(SignatureMismatch, match="not signed"):
        read_node(unsigned, "alipay.trade.pay", keys().gateway.public_key())


@pytest.mark.parametrize("text", ['{"a":1,}', '{"a":1,"a":2}', '{"a":1} x', "[1]", "",
                                  '{"a" 1}', '{"a":1', '{"a":nan}x', '{"a":1}{"b":2}'])
def test_top_level_refuses_malformed_json(text: str) -> None:
    with pytest.raises(ProviderGarbage):
        top_level(text)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)


@FUZZ
@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=5), st.sampled_from([None, 1, 2]))
def test_fuzz_top_level_agrees_with_json(data: dict[str, Any], indent: int | None) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    parts = top_level(text)
    assert {k: v for k, (v, _) in parts.items()} == data
    for key, (value, raw) in parts.items():
        assert json.loads(raw) == value and raw in text
        del key


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_alipay_answers_never_crash(text: str) -> None:
    with contextlib.suppress(PaymentError):
        read_node(text.encode("utf-8", "surrogatepass"), "alipay.trade.pay",
                  keys().gateway.public_key())


@FUZZ
@given(st.integers(min_value=0, max_value=99_999_999_999))
def test_yuan_text_round_trips_integer_fen(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@pytest.mark.parametrize("text", ["1.234", "-1.00", "1e3", " 1.00", "01.00", "1.", "", "NaN"])
def test_odd_amount_texts_are_refused(text: str) -> None:
    with pytest.raises(ProviderGarbage):
        yuan_to_fen(text)
