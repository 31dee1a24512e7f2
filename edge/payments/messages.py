"""What the shopper reads for each payment reason: Chinese first, English second.

Reason codes are ours and stable (screens and tests use them); each provider module maps its
own error codes onto them.
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "started": ("正在支付…", "Paying…"),
    "waiting_user": ("请在手机上确认支付", "Confirm the payment on your phone"),
    "checking": ("正在确认支付结果…", "Checking the payment result…"),
    "paid": ("支付成功", "Paid"),
    "code_expired": ("付款码已过期，请刷新付款码后重新扫码",
                     "The payment code has expired: refresh it in your wallet and scan again"),
    "code_invalid": ("付款码无效，请刷新付款码后重新扫码",
                     "The payment code is not valid: refresh it in your wallet and scan again"),
    "code_used": ("此付款码已使用过，新订单需要新的付款码，请刷新后重新扫码",
                  "This payment code was already used: a new code is needed for a new order"),
    "insufficient_funds": ("余额不足，请在钱包中更换付款方式后重新扫码",
                           "Not enough balance: choose another way to pay in your wallet and "
                           "scan again"),
    "card_not_supported": ("该付款方式不支持本次交易，请更换付款方式",
                           "This card cannot pay here: choose another way to pay in your wallet"),
    "buyer_limit": ("已超出付款额度，请更换付款方式",
                    "Your payment limit is reached: choose another way to pay"),
    "declined": ("支付未成功，未扣款，请重新付款",
                 "The payment did not go through and nothing was charged: please pay again"),
    "closed": ("订单已关闭，未扣款，请重新付款",
               "The order was closed without charge: please pay again"),
    "timeout_reversed": ("支付超时，订单已撤销，如有扣款将原路退回，请重新付款",
                         "The payment timed out and was cancelled; anything charged is returned. "
                         "Please pay again"),
    "cancelled": ("支付已取消，如有扣款将原路退回",
                  "The payment was cancelled; anything charged is returned"),
    "provider_unreachable": ("无法连接支付服务，未扣款，请稍后重试或使用其他方式付款",
                             "Cannot reach the payment service; nothing was charged. Try again "
                             "or pay another way"),
    "in_doubt": ("支付结果无法确认，系统正在自动撤销，请勿重复付款，请联系店员",
                 "The payment could not be confirmed and is being reversed automatically. Do "
                 "not pay again; please call an attendant"),
    "settle_refused": ("价格已变化，款项将原路退回，请重新付款",
                       "The total changed while paying; the amount is returned. Please pay "
                       "again"),
    "in_progress": ("正在支付，请稍候，完成前不能修改购物车",
                    "A payment is in progress: the cart cannot change until it ends"),
    "unresolved": ("上一笔付款仍在处理中，请勿重复付款，请联系店员",
                   "An earlier payment for this cart is still being resolved: do not pay again, "
                   "please call an attendant"),
    "offline": ("网络未连接，暂不能使用微信/支付宝付款码，请使用其他方式付款",
                "Offline: wallet payment codes need the network. Please pay another way"),
    "not_enabled": ("此收银台暂不支持该付款方式，请使用其他方式付款",
                    "This way of paying is not available at this lane: please pay another way"),
    "config_error": ("支付暂不可用，请联系店员",
                     "Payment is not available right now: please call an attendant"),
}


def shopper_text(reason: str) -> tuple[str, str]:
    """Return (zh, en) for ``reason``; an unknown reason reads as a plain decline."""
    return MESSAGES.get(reason, MESSAGES["declined"])


def both(reason: str) -> str:
    """Return the one-line text screens show: Chinese, then English."""
    zh, en = shopper_text(reason)
    return f"{zh} / {en}"
