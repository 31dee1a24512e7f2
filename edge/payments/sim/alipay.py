"""An Alipay OpenAPI gateway for the demo and the tests: trade.pay, trade.query, trade.cancel.

It verifies the request's RSA2 signature with the application's public key and signs the
exact text of each ``*_response`` node with its own key, as the real gateway does.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from ..alipay import fen_to_yuan, rsa2_sign, rsa2_verify, signing_string, yuan_to_fen
from ..base import ProviderGarbage, SignatureMismatch
from ..keys import new_rsa_key
from .common import SimOrder, SimServer, dumps

_STATUS = {"PAYING": "WAIT_BUYER_PAY", "PAID": "TRADE_SUCCESS", "CLOSED": "TRADE_CLOSED",
           "FAILED": "TRADE_CLOSED", "REVERSED": "TRADE_CLOSED"}
_FAILURES = {  # verdict -> (code, msg, sub_code, sub_msg)
    "systemerror": ("20000", "Service Currently Unavailable", "aop.ACQ.SYSTEM_ERROR",
                    "系统繁忙"),
    "bankerror": ("40004", "Business Failed", "ACQ.SYSTEM_ERROR", "系统错误"),
    "expired": ("40004", "Business Failed", "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款"),
    "invalid": ("40004", "Business Failed", "ACQ.PAYMENT_AUTH_CODE_INVALID", "付款码无效"),
    "code_used": ("40004", "Business Failed", "ACQ.PAYMENT_AUTH_CODE_INVALID", "付款码已使用"),
    "notenough": ("40004", "Business Failed", "ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"),
    "duplicate_paid": ("40004", "Business Failed", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
    "duplicate_closed": ("40004", "Business Failed", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
}
GARBAGE = b'{"alipay_trade_pay_response": <html>504 Gateway Time-out</html>'
METHODS = ("alipay.trade.pay", "alipay.trade.query", "alipay.trade.cancel")


class AlipaySimulator(SimServer):
    """``async with AlipaySimulator(app_public_key=...) as sim:``; clients use ``sim.url``."""

    def __init__(self, *, app_public_key: rsa.RSAPublicKey, app_id: str = "2021000000000001",
                 private_key: rsa.RSAPrivateKey | None = None, hold_s: float = 30.0) -> None:
        super().__init__(hold_s=hold_s)
        self.app_public_key, self.app_id = app_public_key, app_id
        self.private_key = private_key or new_rsa_key()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/gateway.do", self._gateway)

    async def _gateway(self, request: web.Request) -> web.Response:  # noqa: PLR0911
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        method = form.get("method", "")
        if method not in METHODS:
            return self._node("error_response", {"code": "40004", "msg": "Business Failed",
                                                 "sub_code": "isv.invalid-method"})
        try:
            rsa2_verify(signing_string(form), form.get("sign", ""), self.app_public_key)
            if form.get("app_id") != self.app_id or form.get("sign_type") != "RSA2":
                raise SignatureMismatch("app_id or sign_type")
            biz = json.loads(form.get("biz_content", ""))
            if not isinstance(biz, dict) or not isinstance(biz.get("out_trade_no"), str):
                raise ValueError("biz_content")
        except SignatureMismatch:
            return self._fail(method, "40002", "isv.invalid-signature", "验签出错")
        except ValueError:
            return self._fail(method, "40002", "isv.invalid-parameter", "参数无效")
        if method == "alipay.trade.pay":
            return await self._pay(method, biz)
        if method == "alipay.trade.query":
            order = self.book.query(biz["out_trade_no"])
            if order is None:
                return self._fail(method, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
            body = self._trade(order)
            body["trade_status"] = _STATUS[order.state]
            return self._node(method, {"code": "10000", "msg": "Success", **body})
        return await self._cancel(method, biz["out_trade_no"])

    async def _pay(self, method: str, biz: dict[str, Any]) -> web.Response:  # noqa: PLR0911
        code, amount = biz.get("auth_code"), biz.get("total_amount")
        if biz.get("scene") != "bar_code" or not isinstance(code, str) \
                or not isinstance(amount, str) or not isinstance(biz.get("subject"), str):
            return self._fail(method, "40004", "ACQ.INVALID_PARAMETER", "参数无效")
        try:
            amount_fen = yuan_to_fen(amount)
        except ProviderGarbage:
            return self._fail(method, "40004", "ACQ.INVALID_PARAMETER", "金额无效")
        verdict, order = self.book.submit(biz["out_trade_no"], code, amount_fen)
        if verdict in ("slow", "timeout"):
            await self.hold(order.script.delay_s if verdict == "slow" else None)
        if verdict in ("garbage", "xxe"):
            return web.Response(body=GARBAGE, content_type="application/json")
        if verdict == "badsign":  # a forged success
            return self._node(method, {"code": "10000", "msg": "Success",
                                       **self._trade(order)}, key=new_rsa_key())
        if verdict == "userpaying":
            return self._node(method, {"code": "10003", "msg": "Waiting Payment",
                                       **self._trade(order)})
        if verdict in ("success", "slow", "timeout") and order.state == "PAID":
            return self._node(method, {"code": "10000", "msg": "Success",
                                       **self._trade(order)})
        failure = _FAILURES.get(verdict, _FAILURES["systemerror"])
        return self._fail(method, failure[0], failure[2], failure[3])

    async def _cancel(self, method: str, out_trade_no: str) -> web.Response:
        verdict, order = self.book.reverse(out_trade_no)
        if verdict == "hold":
            await self.hold()
        if verdict == "not_found":
            return self._fail(method, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        if verdict == "refuse":
            return self._fail(method, "40004", "ACQ.TRADE_CANCEL_TIME_OUT", "撤销已超时")
        if verdict in ("recall", "hold") or order is None:
            return self._node(method, {"code": "40004", "msg": "Business Failed",
                                       "sub_code": "ACQ.SYSTEM_ERROR", "sub_msg": "请重试",
                                       "retry_flag": "Y"})
        action = "refund" if order.refunded_fen else "close"
        return self._node(method, {"code": "10000", "msg": "Success", "retry_flag": "N",
                                   "action": action, "out_trade_no": out_trade_no,
                                   "trade_no": order.transaction_id})

    def _trade(self, order: SimOrder) -> dict[str, str]:
        return {"trade_no": order.transaction_id, "out_trade_no": order.out_trade_no,
                "buyer_logon_id": "138****8000", "buyer_user_id": order.buyer_user_id(self.app_id),
                "total_amount": fen_to_yuan(order.amount_fen),
                "receipt_amount": fen_to_yuan(order.charged_fen)}

    def _fail(self, method: str, code: str, sub_code: str, sub_msg: str) -> web.Response:
        msg = "Business Failed" if code == "40004" else "Invalid Arguments"
        return self._node(method, {"code": code, "msg": msg, "sub_code": sub_code,
                                   "sub_msg": sub_msg})

    def _node(self, method: str, node: dict[str, Any],
              key: rsa.RSAPrivateKey | None = None) -> web.Response:
        name = method if method == "error_response" else method.replace(".", "_") + "_response"
        text = dumps(node)
        sign = rsa2_sign(text, key or self.private_key)
        body = '{"' + name + '":' + text + ',"sign":"' + sign + '"}'
        return web.Response(text=body, content_type="application/json", charset="utf-8")
