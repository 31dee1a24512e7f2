"""Why a lane locks, what screens say, and the item rules: pure functions over values.

The lane guard (``edge.interventions``) asks these functions what a scan means and raises or
clears interventions accordingly; nothing here touches the store or the clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cart import Cart, CartLine
from .checkout_config import CheckoutConfig
from .lane import LaneEvent

# reason -> (zh, en): what the shopper's screen and the attendant's view say.
REASONS: Mapping[str, tuple[str, str]] = {
    "age_restricted": ("请等待工作人员核验年龄", "An attendant will check your age"),
    "weight_mismatch": ("装袋区重量不符，请等待工作人员",
                        "The bagging area weight does not match; an attendant is coming"),
    "unexpected_weight": ("装袋区有未扫描的物品，请等待工作人员",
                          "Unexpected item in the bagging area; an attendant is coming"),
    "item_removed": ("有物品从装袋区取出，请等待工作人员",
                     "An item was taken out of the bagging area; an attendant is coming"),
    "unknown_item": ("无法识别该商品，请等待工作人员",
                     "This item is not recognised; an attendant is coming"),
    "quantity_limit": ("超过限购数量，请等待工作人员",
                       "Over the quantity limit; an attendant is coming"),
    "rescan_audit": ("随机抽检：工作人员将复核部分商品",
                     "Random check: an attendant will rescan some items"),
    "attendant_called": ("已呼叫工作人员，请稍候", "An attendant has been called; please wait"),
}
WEIGHT_REASONS = frozenset({"weight_mismatch", "unexpected_weight", "item_removed"})

# message key -> (zh, en), with {placeholders} filled from the event's data.
TEXTS: Mapping[str, tuple[str, str]] = {
    "place_item_in_bag": ("请将「{name}」放入装袋区",
                          "Please place {name} in the bagging area"),
    "take_item_out_of_bag": ("请将「{name}」从装袋区取出",
                             "Please take {name} out of the bagging area"),
    "bag_first": ("请先将上一件商品放入装袋区",
                  "Place the last item in the bagging area first"),
    "weight_ok": ("重量正确", "Weight OK"),
    "lane_locked": ("请等待工作人员", "Please wait for an attendant"),
    "intervention_cleared": ("工作人员已处理", "Cleared by an attendant"),
    "audit_rescan": ("已复核 {done}/{of} 件", "Rescanned {done} of {of}"),
    "audit_not_in_cart": ("该商品不在购物车中", "This item is not in the cart"),
    "audit_not_asked": ("请复核屏幕上列出的商品", "Rescan the items listed on the screen"),
    "unknown_badge": ("工牌无效", "Badge not recognised"),
    "not_allowed": ("该工牌无权处理", "This badge may not clear interventions"),
    "wrong_pin": ("密码错误", "Wrong PIN"),
    "auth_locked": ("尝试次数过多，请 {minutes} 分钟后再试",
                    "Too many attempts; try again in {minutes} min"),
    "nothing_to_clear": ("没有需要处理的事项", "Nothing to clear"),
    "receipt_printed": ("小票已打印", "Receipt printed"),
    "receipt_print_failed": ("小票打印失败：{error}", "Receipt not printed: {error}"),
    "no_printer": ("本通道没有小票打印机", "This lane has no receipt printer"),
    "exit_passed": ("通过", "PASS"),
    "exit_audit": ("抽检：请复核 {n} 件商品", "Check: rescan {n} items"),
    "exit_audit_done": ("复核完成，通过", "Check complete: PASS"),
    "exit_idle": ("请扫描出口码", "Scan the exit code"),
    "not_exit_code": ("这里是出口，请扫描出口码", "This is the exit: scan the exit code"),
    "exit_not_here": ("出口码请在出口扫描", "Exit codes are checked at the exit"),
    "exit_malformed": ("无效的出口码", "Not a valid exit code"),
    "exit_unknown_key": ("出口码无法验证", "Exit code signed by an unknown key"),
    "exit_bad_signature": ("出口码无效（签名不符）", "Exit code forged or altered"),
    "exit_other_store": ("出口码不属于本店", "Exit code from another store"),
    "exit_not_yet_valid": ("出口码尚未生效", "Exit code not valid yet: check the clock"),
    "exit_expired": ("出口码已过期", "Exit code expired"),
    "exit_already_used": ("出口码已使用过", "Exit code already used"),
    "exit_not_in_sale": ("该商品不在此订单中", "This item is not in the sale"),
}


def texts(key: str, **params: Any) -> tuple[str, str]:
    """Return (zh, en) for a message key or a reason, with ``params`` filled in."""
    zh, en = TEXTS.get(key) or REASONS[key]
    return zh.format(**params), en.format(**params)


def message_data(key: str, **params: Any) -> dict[str, Any]:
    """Return an event's ``data`` for screens: zh, en and the parameters."""
    zh, en = texts(key, **params)
    return {**params, "zh": zh, "en": en}


def event(code: str, key: str, *, ok: bool, **data: Any) -> LaneEvent:
    """Return a lane event whose message is the (zh, en) text of ``key``."""
    body = message_data(key, **data)
    return LaneEvent(code, f"{body['zh']} / {body['en']}", ok, data=body)


@dataclass(frozen=True, slots=True)
class Intervention:
    """One reason a lane is locked, as screens and the attendant's view show it."""

    id: str
    lane: str
    cart_id: str
    reason: str
    raised_at: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        zh, en = REASONS[self.reason]
        return {"id": self.id, "reason": self.reason, "zh": zh, "en": en,
                "raised_at": self.raised_at, "detail": dict(self.detail)}


@dataclass(frozen=True, slots=True)
class Approvals:
    """What an attendant already approved for the current cart (asked once per cart)."""

    age: bool = False
    products: frozenset[str] = frozenset()   # over their own quantity limit
    sale_units: int = 0                      # the cart size approved over the per-sale limit


def item_checks(rules: frozenset[str], config: CheckoutConfig, cart: Cart, line: CartLine,
                approvals: Approvals) -> list[tuple[str, dict[str, Any]]]:
    """Return the interventions a newly added (or grown) line calls for, in order."""
    found: list[tuple[str, dict[str, Any]]] = []
    item = {"line_id": line.line_id, "product_id": line.product_id, "name": line.name}
    if "age_restricted" in rules and line.age_restricted and not approvals.age:
        found.append(("age_restricted", item))
    if "quantity_limit" in rules:
        limit = config.quantity_limit(line.product_id)
        units = sum(x.qty for x in cart.lines if x.product_id == line.product_id)
        if limit and units > limit and line.product_id not in approvals.products:
            found.append(("quantity_limit", {**item, "units": units, "limit": limit}))
        total = sum(x.qty for x in cart.lines)
        if config.max_items_per_sale and total > max(config.max_items_per_sale,
                                                     approvals.sale_units):
            found.append(("quantity_limit", {"units": total, "limit": config.max_items_per_sale,
                                             "per": "sale"}))
    return found


def approve(approvals: Approvals, reason: str, detail: Mapping[str, Any],
            cart: Cart) -> Approvals:
    """Return ``approvals`` after an attendant cleared ``reason`` for this cart."""
    if reason == "age_restricted":
        return Approvals(True, approvals.products, approvals.sale_units)
    if reason == "quantity_limit":
        if detail.get("per") == "sale":
            return Approvals(approvals.age, approvals.products, sum(x.qty for x in cart.lines))
        product = detail.get("product_id")
        if isinstance(product, str):
            return Approvals(approvals.age, approvals.products | {product},
                             approvals.sale_units)
    return approvals


def draws_audit(rng: random.Random, rate: float) -> bool:
    """Return whether this sale is picked for a random check (``rate`` 0..1)."""
    return rate > 0 and rng.random() < rate


def pick_units(rng: random.Random, lines: Iterable[tuple[str, str, int]],
               count: int) -> list[dict[str, str]]:
    """Pick ``count`` units at random from ``(product_id, name, qty)`` lines to rescan."""
    units = [(pid, name) for pid, name, qty in lines for _ in range(max(0, qty))]
    chosen = rng.sample(units, min(count, len(units)))
    return [{"product_id": pid, "name": name} for pid, name in sorted(chosen)]


def match_rescan(wanted: Sequence[Mapping[str, Any]], done: Sequence[str],
                 product_id: str) -> bool:
    """Return whether a rescanned product is still owed by ``wanted`` after ``done``."""
    owed = sum(1 for w in wanted if w.get("product_id") == product_id)
    return done.count(product_id) < owed
