"""What loyalty events say to the shopper, in Chinese then English (``data.zh``/``data.en``).

Keyed by a stable reason; screens may translate by the event code and reason instead.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    "identified": ("欢迎您，{name}", "Welcome, {name}"),
    "not_found": ("未找到会员", "Member not found"),
    "code_expired": ("会员码已过期，请刷新后再扫", "This member code has expired: refresh it "
                     "on your phone and scan again"),
    "code_reused": ("此会员码已使用过，请刷新后再扫", "This member code was already used: "
                    "refresh it on your phone and scan again"),
    "static_refused": ("请出示动态会员码", "Please show the rotating member code"),
    "bad_phone": ("请输入11位手机号", "Enter an 11-digit mobile number"),
    "phone_limited": ("查询过于频繁，请{wait}秒后再试", "Too many look-ups: try again in "
                      "{wait} s"),
    "phone_ambiguous": ("此号码对应多位会员，请到服务台", "Several members share this number: "
                        "please ask at the service desk"),
    "confirm_identify": ("{name}，请输入手机号后四位确认", "{name}: enter the last 4 digits of "
                         "your phone number to confirm"),
    "confirm_spend": ("使用积分或储值前，请输入手机号后四位", "Enter the last 4 digits of your "
                      "phone number before using points or stored value"),
    "wrong_last4": ("后四位不正确，还可尝试{left}次", "Those digits do not match; {left} "
                    "tries left"),
    "too_many_wrong": ("尝试次数过多，请出示动态会员码", "Too many tries: please show your "
                       "member code"),
    "confirm_timeout": ("确认超时，请重新输入手机号", "Confirmation timed out: enter the number "
                        "again"),
    "confirmed": ("已确认", "Confirmed"),
    "needs_phone_last4": ("请先输入手机号后四位", "Enter the last 4 digits of your phone "
                          "number first"),
    "needs_member_code": ("使用积分或储值请出示动态会员码", "Show your member code to use "
                          "points or stored value"),
    "no_member": ("请先识别会员", "Identify as a member first"),
    "insufficient_points": ("积分不足，当前可用{have}", "Not enough points: {have} available"),
    "insufficient_balance": ("储值余额不足，当前可用{have}", "Not enough stored value: {have} "
                             "available"),
    "nothing_to_pay": ("没有需要支付的金额", "There is nothing left to pay"),
    "stored_value_unavailable": ("储值暂不可用", "Stored value is not available at this lane"),
    "offline_refused": ("离线储值不可用：{why}", "Stored value refused while offline: {why}"),
    "points_applied": ("使用{points}积分抵扣{amount}", "{points} points pay {amount}"),
    "stored_value_applied": ("储值支付{amount}", "Stored value pays {amount}"),
    "tenders_cleared": ("已取消积分和储值支付", "Points and stored value taken off"),
    "guide_attributed": ("导购：{name}", "Shop guide: {name}"),
    "guide_not_found": ("导购码无效", "Unknown shop-guide code"),
    "join_offered": ("一键加入会员，本单积分{points}分", "Join in one tap and get {points} "
                     "points for this purchase"),
    "joined": ("欢迎加入会员！本单积分{points}分已入账", "Welcome! {points} points are yours"),
    "join_declined": ("已跳过", "Maybe next time"),
    "attached": ("{name}，本单积分{points}分已入账", "{name}: {points} points added"),
    "coupon_issued": ("获得优惠券：{label}", "You got a coupon: {label}"),
    "unknown": ("券码无效", "no such coupon"),
}


# Coupon verdicts (``edge.coupons``): {saved} and {missing} are amounts in yuan.
COUPON_REASONS: dict[str, tuple[str, str]] = {
    "applied": ("已抵扣 {saved}", "saves {saved}"),
    "redeemed": ("此券已使用", "this coupon was already used"),
    "not_yet": ("此券尚未生效", "this coupon is not valid yet"),
    "expired": ("此券已过期", "this coupon has expired"),
    "other_member": ("此券属于其他会员", "this coupon belongs to another member"),
    "members_only": ("请先识别会员再使用此券", "identify as its member to use this coupon"),
    "own_share": ("分享券请赠送好友使用", "a shared coupon is for a friend, not the sharer"),
    "out_of_scope": ("购物车中没有适用商品", "nothing in the cart is covered by it"),
    "promotion_applied": ("不与促销同享", "does not combine with the promotions applied"),
    "gift_missing": ("请将赠品加入购物车", "add the gift item to the cart to get it free"),
    "below_threshold": ("再买 {missing} 可用", "spend {missing} more to use it"),
    "nothing_to_save": ("此券无可抵扣金额", "nothing left for it to take off"),
    "exclusive": ("此券不可与其他券同用，已选更优组合",
                  "cannot be combined; a better combination was chosen"),
    "exclusive_other": ("已使用的券不可与其他券同用", "a coupon that cannot be combined "
                        "is applied"),
    "max_per_sale": ("每单用券数量已达上限", "the most coupons one sale takes are applied"),
    "no_extra_saving": ("与已选券同用不再省钱", "saves nothing more with the coupons "
                        "applied"),
    "unusable": ("此券无法识别", "this coupon cannot be read"),
    "unknown": ("券码无效", "no such coupon"),
    "removed": ("已取消使用", "taken off by the shopper"),
}


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def words(reason: str, **facts: Any) -> tuple[str, str]:
    """Return (zh, en) for ``reason`` with its facts filled in."""
    zh, en = MESSAGES.get(reason, (reason, reason))
    return zh.format(**facts), en.format(**facts)
