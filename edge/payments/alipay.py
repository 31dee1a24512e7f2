"""Alipay face-to-face 当面付 (``alipay.trade.pay``, ``scene=bar_code``): RSA2 and the client.

Requests go to the OpenAPI gateway as a UTF-8 form with the common parameters (``app_id``,
``method``, ``charset``, ``sign_type=RSA2``, ``timestamp``, ``version``, ``biz_content``), signed
SHA256withRSA over the sorted ``k=v&…`` string. An answer is JSON whose ``*_response`` node is
verified with the Alipay public key over its *exact* text as received, then ``code``,
``sub_code`` and, for queries, ``trade_status`` are read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .base import (
    Closed,
    Declined,
    NotFound,
    Paid,
    PayAnswer,
    PaymentOrder,
    ProviderBusy,
    ProviderGarbage,
    ProviderName,
    QueryAnswer,
    Reversed,
    ReverseRefused,
    SignatureMismatch,
    UserPaying,
)
from .transport import HttpLimits, post

BEIJING = dt.timezone(dt.timedelta(hours=8))
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,2}))?$")
_WS = " \t\r\n"
_BUYER = re.compile(r"2088[0-9]{12}")   # Alipay's id of who paid (buyer_user_id)

DECLINES: dict[str, str] = {
    "ACQ.PAYMENT_AUTH_CODE_INVALID": "code_invalid",
    "ACQ.BUYER_BALANCE_NOT_ENOUGH": "insufficient_funds",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": "insufficient_funds",
    "ACQ.ERROR_BALANCE_PAYMENT_DISABLE": "card_not_supported",
    "ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE": "card_not_supported",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR": "buyer_limit",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR": "buyer_limit",
    "ACQ.BEYOND_PAY_RESTRICTION": "buyer_limit",
    "ACQ.BEYOND_PER_RECEIPT_RESTRICTION": "buyer_limit",
    "ACQ.TRADE_HAS_CLOSE": "closed",
    "ACQ.PAYMENT_FAIL": "declined",
    "ACQ.PAYMENT_REQUEST_HAS_RISK": "declined",
    "ACQ.BUYER_ENABLE_STATUS_FORBID": "declined",
    "ACQ.BUYER_SELLER_EQUAL": "declined",
    "ACQ.TRADE_BUYER_NOT_MATCH": "declined",
    "ACQ.MOBILE_PAYMENT_SWITCH_OFF": "declined",
    "ACQ.INVALID_PARAMETER": "config_error",
    "ACQ.ACCESS_FORBIDDEN": "config_error",
    "ACQ.PARTNER_ERROR": "config_error",
    "ACQ.TOTAL_FEE_EXCEED": "config_error",
    "ACQ.CONTEXT_INCONSISTENT": "config_error",
    "ACQ.INVALID_STORE_ID": "config_error",
    "ACQ.SELLER_BEEN_BLOCKED": "config_error",
}


# -- signing (pure) -------------------------------------------------------------------------


def signing_string(params: Mapping[str, Any]) -> str:
    """Return the sorted ``k=v&…`` string of every non-empty parameter except ``sign``."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params)
                    if k != "sign" and params[k] is not None and str(params[k]) != "")


def rsa2_sign(text: str, key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64, as the gateway expects in ``sign``."""
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(),
                                     hashes.SHA256())).decode()


def rsa2_verify(text: str, signature: str, key: rsa.RSAPublicKey) -> None:
    """Raise ``SignatureMismatch`` unless ``signature`` signs ``text``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError) as err:
        raise SignatureMismatch("the answer's signature does not verify") from err


def fen_to_yuan(fen: int) -> str:
    """Integer fen to the gateway's ``12.34`` yuan text, without touching a float."""
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(text: str) -> int:
    match = _AMOUNT.match(text)
    if match is None:
        raise ProviderGarbage(f"{text[:20]!r} is not an amount")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def build_request(method: str, biz: Mapping[str, Any], app_id: str, key: rsa.RSAPrivateKey,
                  now: dt.datetime | None = None) -> dict[str, str]:
    """Lay out and sign one gateway request; return its form fields."""
    params = {
        "app_id": app_id, "method": method, "format": "JSON", "charset": "utf-8",
        "sign_type": "RSA2", "version": "1.0",
        "timestamp": (now or dt.datetime.now(BEIJING)).astimezone(BEIJING)
        .strftime("%Y-%m-%d %H:%M:%S"),
        "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
    }
    params["sign"] = rsa2_sign(signing_string(params), key)
    return params


# -- reading answers (pure) -----------------------------------------------------------------


def top_level(text: str) -> dict[str, tuple[Any, str]]:
    """Split a JSON object into {key: (value, exact text of the value)}; strict and bounded."""
    decoder = json.JSONDecoder()
    out: dict[str, tuple[Any, str]] = {}
    try:
        i = _skip(text, 0)
        if text[i:i + 1] != "{":
            raise ProviderGarbage("answer is not a JSON object")
        i = _skip(text, i + 1)
        while text[i:i + 1] != "}":
            key, i = decoder.raw_decode(text, i)
            i = _skip(text, i)
            if not isinstance(key, str) or key in out or text[i:i + 1] != ":":
                raise ProviderGarbage("malformed or repeated key in the answer")
            start = _skip(text, i + 1)
            value, end = decoder.raw_decode(text, start)
            out[key] = (value, text[start:end])
            i = _skip(text, end)
            if text[i:i + 1] == ",":
                i = _skip(text, i + 1)
                if text[i:i + 1] == "}":
                    raise ProviderGarbage("trailing comma in the answer")
            elif text[i:i + 1] != "}":
                raise ProviderGarbage("malformed answer")
        if text[_skip(text, i + 1):]:
            raise ProviderGarbage("trailing text after the answer")
    except (ValueError, RecursionError, IndexError) as err:
        raise ProviderGarbage(f"answer is not JSON: {type(err).__name__}") from None
    return out


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def read_node(body: bytes, method: str, public_key: rsa.RSAPublicKey,
              max_bytes: int = 64 * 1024) -> dict[str, str]:
    """Verify and return the ``<method>_response`` node; only string fields are kept."""
    if len(body) > max_bytes:
        raise ProviderGarbage(f"answer over {max_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProviderGarbage("answer is not UTF-8") from None
    parts = top_level(text)
    name = method.replace(".", "_") + "_response"
    node, sign = parts.get(name), parts.get("sign")
    if node is None or not isinstance(node[0], dict):
        raise ProviderGarbage(f"answer has no {name}")
    if sign is None or not isinstance(sign[0], str):
        raise SignatureMismatch("the answer is not signed")
    rsa2_verify(node[1], sign[0], public_key)
    fields = {k: v for k, v in node[0].items() if isinstance(v, str) and len(v) <= 8192}
    if "code" not in fields:
        raise ProviderGarbage("answer has no code")
    return fields


def _busy(fields: Mapping[str, str]) -> ProviderBusy:
    return ProviderBusy(f"{fields.get('code')} {fields.get('sub_code', '')}: "
                        f"{fields.get('sub_msg', fields.get('msg', ''))[:200]}")


def _paid(fields: Mapping[str, str], out_trade_no: str, amount_fen: int) -> Paid:
    trade_no = fields.get("trade_no", "")
    if fields.get("out_trade_no") != out_trade_no or not 0 < len(trade_no) <= 64:
        raise ProviderGarbage("a success without this order's number or a trade number")
    if yuan_to_fen(fields.get("total_amount", "")) != amount_fen:
        raise ProviderGarbage(f"total_amount is not the {amount_fen} fen asked for")
    buyer = fields.get("buyer_user_id", "")
    return Paid(trade_no, amount_fen, buyer if _BUYER.fullmatch(buyer) else None)


def read_pay(fields: Mapping[str, str], order: PaymentOrder) -> PayAnswer:
    code, sub = fields["code"], fields.get("sub_code", "")
    if code == "10000":
        return _paid(fields, order.out_trade_no, order.amount_fen)
    if code == "10003":
        return UserPaying()
    if code == "40004" and sub in DECLINES:
        return Declined(DECLINES[sub], f"{sub}: {fields.get('sub_msg', '')[:200]}")
    raise _busy(fields)  # 20000, ACQ.SYSTEM_ERROR, ACQ.TRADE_HAS_SUCCESS, anything new


def read_query(fields: Mapping[str, str], out_trade_no: str, amount_fen: int) -> QueryAnswer:
    code, status = fields["code"], fields.get("trade_status", "")
    if code == "40004" and fields.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        return NotFound()
    if code != "10000":
        raise _busy(fields)
    if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        return _paid(fields, out_trade_no, amount_fen)
    if status == "WAIT_BUYER_PAY":
        return UserPaying()
    if status == "TRADE_CLOSED":
        return Closed("closed", "trade_status TRADE_CLOSED")
    raise _busy(fields)


def read_cancel(fields: Mapping[str, str]) -> Reversed:
    code, sub = fields["code"], fields.get("sub_code", "")
    if code == "10000" and fields.get("retry_flag", "N") != "Y":
        return Reversed(f"cancelled ({fields.get('action', 'close')})")
    if code == "40004" and sub == "ACQ.TRADE_NOT_EXIST":
        return Reversed("no such order: nothing was charged")
    if code == "40004" and sub == "ACQ.TRADE_CANCEL_TIME_OUT":
        raise ReverseRefused("the order is too old to cancel: refund it by hand")
    raise _busy(fields)


# -- the client -----------------------------------------------------------------------------


class AlipayClient:
    """A ``PaymentProvider`` for Alipay face-to-face payments with a payment code."""

    name: ProviderName = "alipay"

    def __init__(self, *, gateway: str, app_id: str, private_key: rsa.RSAPrivateKey,
                 alipay_public_key: rsa.RSAPublicKey, limits: HttpLimits, store_id: str = "",
                 terminal_id: str = "") -> None:
        self._gateway, self._app_id = gateway, app_id
        self._key, self._alipay_key, self._limits = private_key, alipay_public_key, limits
        self._store_id, self._terminal_id = store_id, terminal_id
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self._session.close()

    async def _call(self, method: str, biz: dict[str, Any]) -> dict[str, str]:
        form = build_request(method, biz, self._app_id, self._key)
        body = await post(self._session, self._gateway,
                          urllib.parse.urlencode(form).encode(),
                          "application/x-www-form-urlencoded;charset=utf-8", self._limits)
        return read_node(body, method, self._alipay_key, self._limits.max_bytes)

    async def pay(self, order: PaymentOrder) -> PayAnswer:
        biz: dict[str, Any] = {
            "out_trade_no": order.out_trade_no, "scene": "bar_code",
            "auth_code": order.auth_code, "subject": order.description[:256],
            "total_amount": fen_to_yuan(order.amount_fen)}
        if self._store_id:
            biz["store_id"] = self._store_id
        if self._terminal_id:
            biz["terminal_id"] = self._terminal_id
        return read_pay(await self._call("alipay.trade.pay", biz), order)

    async def query(self, out_trade_no: str, amount_fen: int) -> QueryAnswer:
        fields = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        return read_query(fields, out_trade_no, amount_fen)

    async def reverse(self, out_trade_no: str) -> Reversed:
        return read_cancel(await self._call("alipay.trade.cancel",
                                            {"out_trade_no": out_trade_no}))

    async def check(self) -> str:
        answer = await self.query("CHECK" + secrets.token_hex(10), 1)
        return f"signed answer verified ({type(answer).__name__} for a probe order)"
