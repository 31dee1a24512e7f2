"""WeChat Pay API v2 付款码支付 (micropay): signing, XML, the answers, and the client.

Faithful to the v2 merchant API: XML bodies ``<xml><appid>…</appid>…</xml>``, amounts as
integer fen (``total_fee``), MD5 or HMAC-SHA256 signatures, ``/pay/micropay``,
``/pay/orderquery`` and ``/secapi/pay/reverse``. Every answer is parsed with defusedxml, its
signature verified, then ``return_code``, ``result_code`` and — for queries — ``trade_state``
are read; the return code alone never decides anything.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import ssl
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape

import aiohttp
import defusedxml
import defusedxml.ElementTree

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

_LOGGER = logging.getLogger(__name__)
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PAYER = re.compile(r"[A-Za-z0-9_-]{1,128}")   # the payer's openid under our appid
MAX_FIELDS = 64
MAX_VALUE = 8192

# err_code -> our reason, for refusals that are final (nothing was charged).
DECLINES: dict[str, str] = {
    "AUTHCODEEXPIRE": "code_expired",
    "AUTH_CODE_INVALID": "code_invalid",
    "AUTH_CODE_ERROR": "code_invalid",
    "NOTENOUGH": "insufficient_funds",
    "NOTSUPORTCARD": "card_not_supported",
    "BUYER_MISMATCH": "declined",
    "TRADE_ERROR": "declined",
    "ORDERCLOSED": "closed",
    "ORDERREVERSED": "closed",
    "PARAM_ERROR": "config_error",
    "NOAUTH": "config_error",
    "APPID_NOT_EXIST": "config_error",
    "MCHID_NOT_EXIST": "config_error",
    "APPID_MCHID_NOT_MATCH": "config_error",
    "LACK_PARAMS": "config_error",
    "OUT_TRADE_NO_USED": "config_error",
    "INVALID_REQUEST": "config_error",
}
_WAITING_STATES = {"USERPAYING", "NOTPAY", "ACCEPT"}


# -- signing and XML (pure) -----------------------------------------------------------------


def sign_v2(params: dict[str, Any], key: str, sign_type: str = "HMAC-SHA256") -> str:
    """Sign as the v2 docs say: sorted non-empty ``k=v`` pairs, ``&key=KEY``, uppercase hex."""
    pairs = "&".join(f"{k}={params[k]}" for k in sorted(params)
                     if k != "sign" and params[k] is not None and str(params[k]) != "")
    text = f"{pairs}&key={key}".encode()
    if sign_type == "MD5":
        return hashlib.md5(text, usedforsecurity=False).hexdigest().upper()
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), text, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_type {sign_type!r}")


def verify_v2(fields: Mapping[str, str], key: str, sign_type: str) -> None:
    """Raise ``SignatureMismatch`` unless ``fields['sign']`` is the signature of the rest."""
    given = fields.get("sign", "")
    expected = sign_v2(dict(fields), key, sign_type)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureMismatch("the answer's signature does not verify")


def to_xml(params: Mapping[str, Any]) -> bytes:
    """Build the ``<xml>`` body; every value is escaped, empty ones are left out."""
    parts = []
    for k, v in params.items():
        if not _FIELD.match(k):
            raise ValueError(f"bad field name {k!r}")
        if v is not None and str(v) != "":
            parts.append(f"<{k}>{escape(str(v))}</{k}>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def parse_xml(body: bytes, max_bytes: int = 64 * 1024) -> dict[str, str]:
    """Parse a flat ``<xml>`` message with defusedxml; raise ``ProviderGarbage`` on anything else.

    No DTD, no entities, no nesting, no repeated or odd field names, bounded sizes.
    """
    if len(body) > max_bytes:
        raise ProviderGarbage(f"answer over {max_bytes} bytes")
    try:
        root = defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError, UnicodeError,
            RecursionError) as err:
        raise ProviderGarbage(f"not well-formed XML: {type(err).__name__}") from None
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        raise ProviderGarbage("not a <xml> message")
    fields: dict[str, str] = {}
    for child in root:
        tag = child.tag if isinstance(child.tag, str) else ""
        if not _FIELD.match(tag) or len(child) or child.attrib or (child.tail or "").strip():
            raise ProviderGarbage("unexpected element in the message")
        if tag in fields or len(fields) >= MAX_FIELDS:
            raise ProviderGarbage("repeated or too many fields")
        text = child.text or ""
        if len(text) > MAX_VALUE:
            raise ProviderGarbage(f"field {tag} too long")
        fields[tag] = text
    return fields


def nonce() -> str:
    return secrets.token_hex(16)


# -- reading answers (pure) -----------------------------------------------------------------


def _checked(body: bytes, key: str, sign_type: str, max_bytes: int) -> dict[str, str]:
    """Parse, require return_code SUCCESS, verify the signature."""
    fields = parse_xml(body, max_bytes)
    if fields.get("return_code") != "SUCCESS":
        # Not signed, so it cannot be trusted either way: the order must be queried.
        raise ProviderBusy(f"return_code {fields.get('return_code')!r}: "
                           f"{fields.get('return_msg', '')[:200]}")
    verify_v2(fields, key, sign_type)
    if fields.get("result_code") not in ("SUCCESS", "FAIL"):
        raise ProviderGarbage("result_code missing")
    return fields


def _fen(fields: Mapping[str, str], expected: int) -> int:
    raw = fields.get("total_fee", "")
    if not raw.isdigit() or len(raw) > 12 or int(raw) != expected:
        raise ProviderGarbage(f"total_fee {raw[:20]!r} is not the {expected} fen asked for")
    return int(raw)


def _paid(fields: Mapping[str, str], out_trade_no: str, amount_fen: int) -> Paid:
    txn = fields.get("transaction_id", "")
    if fields.get("out_trade_no") != out_trade_no or not 0 < len(txn) <= 64:
        raise ProviderGarbage("a success without this order's number or a transaction id")
    openid = fields.get("openid", "")
    return Paid(txn, _fen(fields, amount_fen), openid if _PAYER.fullmatch(openid) else None)


def read_micropay(body: bytes, key: str, sign_type: str, order: PaymentOrder,
                  max_bytes: int = 64 * 1024) -> PayAnswer:
    """Turn a micropay answer into an outcome; unknown outcomes raise ``OutcomeUnknown``."""
    fields = _checked(body, key, sign_type, max_bytes)
    if fields["result_code"] == "SUCCESS":
        return _paid(fields, order.out_trade_no, order.amount_fen)
    err = fields.get("err_code", "")
    detail = f"{err}: {fields.get('err_code_des', '')[:200]}"
    if err == "USERPAYING":
        return UserPaying()
    if err in DECLINES:
        return Declined(DECLINES[err], detail)
    raise ProviderBusy(detail)  # SYSTEMERROR, BANKERROR, ORDERPAID, anything new


def read_orderquery(body: bytes, key: str, sign_type: str, *, out_trade_no: str,
                    amount_fen: int, max_bytes: int = 64 * 1024) -> QueryAnswer:
    fields = _checked(body, key, sign_type, max_bytes)
    if fields["result_code"] == "FAIL":
        if fields.get("err_code") == "ORDERNOTEXIST":
            return NotFound()
        raise ProviderBusy(f"query: {fields.get('err_code', '')}")
    state = fields.get("trade_state", "")
    detail = f"trade_state {state}: {fields.get('trade_state_desc', '')[:200]}"
    if state == "SUCCESS":
        return _paid(fields, out_trade_no, amount_fen)
    if state in _WAITING_STATES:
        return UserPaying()
    if state in ("CLOSED", "REVOKED", "REFUND"):
        return Closed("closed", detail)
    if state == "PAYERROR":
        return Closed("declined", detail, needs_reverse=True)
    raise ProviderBusy(detail)


def read_reverse(body: bytes, key: str, sign_type: str, max_bytes: int = 64 * 1024) -> Reversed:
    fields = _checked(body, key, sign_type, max_bytes)
    if fields["result_code"] == "SUCCESS" and fields.get("recall", "N") != "Y":
        return Reversed("reversed")
    err = fields.get("err_code", "")
    if err == "ORDERNOTEXIST":
        return Reversed("no such order: nothing was charged")
    if err == "REVERSE_EXPIRE":
        raise ReverseRefused("the order is too old to reverse: refund it by hand")
    # recall=Y, SYSTEMERROR, USERPAYING: the docs say call reverse again.
    raise ProviderBusy(f"reverse: {err or 'recall=Y'} {fields.get('err_code_des', '')[:200]}")


# -- the client -----------------------------------------------------------------------------


class WeChatPayClient:
    """A ``PaymentProvider`` for WeChat Pay v2 micropay."""

    name: ProviderName = "wechat"

    def __init__(self, *, base_url: str, appid: str, mch_id: str, key: str, sign_type: str,
                 terminal_ip: str, device_info: str, limits: HttpLimits,
                 reverse_ssl: ssl.SSLContext | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._appid, self._mch_id, self._key = appid, mch_id, key
        self._sign_type, self._ip, self._device = sign_type, terminal_ip, device_info
        self._limits, self._reverse_ssl = limits, reverse_ssl
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self._session.close()

    async def _call(self, path: str, params: dict[str, Any], *,
                    ssl_context: ssl.SSLContext | None = None) -> bytes:
        params = {"appid": self._appid, "mch_id": self._mch_id, "nonce_str": nonce(),
                  "sign_type": self._sign_type if self._sign_type != "MD5" else None, **params}
        params["sign"] = sign_v2(params, self._key, self._sign_type)
        return await post(self._session, self._base + path, to_xml(params),
                          "text/xml; charset=utf-8", self._limits, ssl_context=ssl_context)

    async def pay(self, order: PaymentOrder) -> PayAnswer:
        body = await self._call("/pay/micropay", {
            "device_info": self._device, "body": order.description[:127],
            "out_trade_no": order.out_trade_no, "total_fee": order.amount_fen,
            "fee_type": "CNY", "spbill_create_ip": self._ip, "auth_code": order.auth_code})
        return read_micropay(body, self._key, self._sign_type, order, self._limits.max_bytes)

    async def query(self, out_trade_no: str, amount_fen: int) -> QueryAnswer:
        body = await self._call("/pay/orderquery", {"out_trade_no": out_trade_no})
        return read_orderquery(body, self._key, self._sign_type, out_trade_no=out_trade_no,
                               amount_fen=amount_fen, max_bytes=self._limits.max_bytes)

    async def reverse(self, out_trade_no: str) -> Reversed:
        body = await self._call("/secapi/pay/reverse", {"out_trade_no": out_trade_no},
                                ssl_context=self._reverse_ssl)
        return read_reverse(body, self._key, self._sign_type, self._limits.max_bytes)

    async def check(self) -> str:
        probe = "CHECK" + nonce()[:20]
        answer = await self.query(probe, 1)
        return f"signed answer verified ({type(answer).__name__} for a probe order)"
