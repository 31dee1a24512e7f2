"""A WeChat Pay v2 server for the demo and the tests: micropay, orderquery, reverse.

It checks what a real one checks (XML, appid/mch_id, the signature in the request's
``sign_type``) and answers as the v2 docs show, signed with the merchant key. Garbage, an XXE
document, a wrong signature, no answer and a slow answer are scriptable per payment code.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..base import ProviderGarbage, SignatureMismatch
from ..wechatpay import nonce, parse_xml, sign_v2, to_xml, verify_v2
from .common import SimOrder, SimServer

_STATES = {"PAYING": "USERPAYING", "PAID": "SUCCESS", "CLOSED": "CLOSED",
           "FAILED": "PAYERROR", "REVERSED": "REVOKED"}
_ERRORS = {  # verdict -> (err_code, err_code_des)
    "userpaying": ("USERPAYING", "需要用户输入支付密码"),
    "systemerror": ("SYSTEMERROR", "系统超时"),
    "bankerror": ("BANKERROR", "银行系统异常"),
    "expired": ("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试"),
    "invalid": ("AUTH_CODE_INVALID", "101 付款码无效，请重新扫码"),
    "notenough": ("NOTENOUGH", "余额不足"),
    "code_used": ("AUTH_CODE_INVALID", "101 每个二维码仅限使用一次，请刷新再试"),
    "duplicate_paid": ("ORDERPAID", "订单已支付"),
    "duplicate_closed": ("ORDERCLOSED", "订单已关闭"),
}
XXE = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b"<xml><return_code>SUCCESS</return_code><result_code>&x;</result_code></xml>")
GARBAGE = b"<html><body>502 Bad Gateway</body></html>\x00\xff"


class WeChatPaySimulator(SimServer):
    """``async with WeChatPaySimulator(key=...) as sim:`` then point the client at ``sim.url``."""

    def __init__(self, *, key: str, appid: str = "wxd930ea5d5a258f4f",
                 mch_id: str = "10000100", hold_s: float = 30.0) -> None:
        super().__init__(hold_s=hold_s)
        self.key, self.appid, self.mch_id = key, appid, mch_id

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/pay/micropay", self._micropay)
        app.router.add_post("/pay/orderquery", self._orderquery)
        app.router.add_post("/secapi/pay/reverse", self._reverse)

    # -- protocol -------------------------------------------------------------------------

    async def _request(self, request: web.Request,
                       required: tuple[str, ...]) -> dict[str, str] | web.Response:
        """Parse and check a request; return its fields, or the answer refusing it."""
        try:
            fields = parse_xml(await request.read())
        except ProviderGarbage:
            return self._fail("XML格式错误")
        sign_type = fields.get("sign_type", "MD5")
        if sign_type not in ("MD5", "HMAC-SHA256"):
            return self._fail("签名类型错误")
        try:
            verify_v2(fields, self.key, sign_type)
        except SignatureMismatch:
            return self._fail("签名错误")
        if fields.get("appid") != self.appid or fields.get("mch_id") != self.mch_id:
            return self._fail("appid和mch_id不匹配")
        missing = [k for k in ("nonce_str", *required) if not fields.get(k)]
        if missing:
            return self._fail(f"缺少参数 {','.join(missing)}")
        return fields

    def _fail(self, message: str) -> web.Response:
        # Communication failures are not signed, as on the real gateway.
        return _xml({"return_code": "FAIL", "return_msg": message})

    def _answer(self, request_fields: dict[str, str], body: dict[str, Any],
                key: str | None = None) -> web.Response:
        sign_type = request_fields.get("sign_type", "MD5")
        fields: dict[str, Any] = {"return_code": "SUCCESS", "return_msg": "OK",
                                  "appid": self.appid, "mch_id": self.mch_id,
                                  "nonce_str": nonce(), **body}
        fields["sign"] = sign_v2(fields, key or self.key, sign_type)
        return _xml(fields)

    async def _micropay(self, request: web.Request) -> web.Response:
        fields = await self._request(request, (
            "body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code"))
        if isinstance(fields, web.Response):
            return fields
        fee = fields["total_fee"]
        if not fee.isdigit() or int(fee) <= 0:
            return self._answer(fields, {"result_code": "FAIL", "err_code": "PARAM_ERROR",
                                         "err_code_des": "total_fee 参数错误"})
        verdict, order = self.book.submit(fields["out_trade_no"], fields["auth_code"], int(fee))
        if verdict in ("slow", "timeout"):
            await self.hold(order.script.delay_s if verdict == "slow" else None)
        if verdict in ("garbage", "xxe"):
            return web.Response(body=XXE if verdict == "xxe" else GARBAGE,
                                content_type="text/xml")
        if verdict == "badsign":  # a forged "paid", whatever really happened
            return self._answer(fields, self._paid(order, fields), key="WRONG" + self.key)
        if verdict in ("success", "slow", "timeout"):
            paid = order.state == "PAID"
            return self._answer(fields, self._paid(order, fields) if paid
                                else _error("systemerror"))
        return self._answer(fields, _error(verdict))

    async def _orderquery(self, request: web.Request) -> web.Response:
        fields = await self._request(request, ("out_trade_no",))
        if isinstance(fields, web.Response):
            return fields
        order = self.book.query(fields["out_trade_no"])
        if order is None:
            return self._answer(fields, {"result_code": "FAIL", "err_code": "ORDERNOTEXIST",
                                         "err_code_des": "此交易订单号不存在"})
        body = {"result_code": "SUCCESS", "out_trade_no": order.out_trade_no,
                "trade_state": _STATES[order.state], "trade_state_desc": order.state}
        if order.state == "PAID":
            body.update(self._paid(order, fields))
        return self._answer(fields, body)

    async def _reverse(self, request: web.Request) -> web.Response:
        fields = await self._request(request, ("out_trade_no",))
        if isinstance(fields, web.Response):
            return fields
        verdict, _order = self.book.reverse(fields["out_trade_no"])
        if verdict == "hold":
            await self.hold()
            return self._answer(fields, _error("systemerror") | {"recall": "Y"})
        body = {
            "reversed": {"result_code": "SUCCESS", "recall": "N"},
            "recall": {"result_code": "FAIL", "recall": "Y", "err_code": "SYSTEMERROR",
                       "err_code_des": "请重试撤销"},
            "refuse": {"result_code": "FAIL", "recall": "N", "err_code": "REVERSE_EXPIRE",
                       "err_code_des": "订单已过期无法撤销"},
            "not_found": {"result_code": "FAIL", "recall": "N", "err_code": "ORDERNOTEXIST",
                          "err_code_des": "订单不存在"},
        }[verdict]
        return self._answer(fields, body)

    def _paid(self, order: SimOrder, fields: dict[str, str]) -> dict[str, Any]:
        return {"result_code": "SUCCESS", "openid": order.openid(self.appid),
                "is_subscribe": "N", "trade_type": "MICROPAY", "bank_type": "CMC",
                "fee_type": "CNY", "total_fee": order.amount_fen, "cash_fee": order.amount_fen,
                "transaction_id": order.transaction_id, "out_trade_no": order.out_trade_no,
                "device_info": fields.get("device_info", ""), "time_end": "20261122120000"}


def _error(verdict: str) -> dict[str, str]:
    code, text = _ERRORS[verdict]
    return {"result_code": "FAIL", "err_code": code, "err_code_des": text}


def _xml(fields: dict[str, Any]) -> web.Response:
    return web.Response(body=to_xml(fields), content_type="text/xml", charset="utf-8")
