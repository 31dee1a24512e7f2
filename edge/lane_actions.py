"""Cart changes at a staffed lane that need a supervisor: quantity, void line, void sale, price.

Each one is the lane's own change with a recorder that writes, in the same transaction, the
audit row naming the cashier (actor) and the supervisor who approved it, and for voids a
``lane_voids`` row the shift's X and Z reports count. A change that fails leaves neither.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from .approval import Approval
from .audit import record_audit
from .cart import Cart, CartLine, new_id, utc_now
from .errors import LaneError
from .lane import LaneEvent, LaneSession, Recorder
from .pricing import PricedCart

MAX_QTY = 999
MAX_PRICE_FEN = 100_000_000


def _line(cart: Cart, line_id: str) -> CartLine:
    line = cart.line(line_id)
    if line is None:
        raise LaneError(f"no line {line_id} in the cart")
    return line


def _net(priced: PricedCart, line_id: str) -> int:
    return next((pl.net_fen for pl in priced.lines if pl.line_id == line_id), 0)


def _audit(approval: Approval, action: str, detail: dict[str, Any]) -> Recorder:
    def record(conn: sqlite3.Connection, _cart: Cart, _priced: PricedCart) -> None:
        record_audit(conn, approval.cashier, action, f"lane:{approval.lane}",
                     {"supervisor": approval.supervisor, **detail})
    return record


def _void_row(conn: sqlite3.Connection, approval: Approval, kind: str, *, cart_id: str,
              lines: int, amount_fen: int, reason: str) -> None:
    conn.execute(
        "INSERT INTO lane_voids (id, lane, shift_id, kind, cart_id, lines, amount_fen, cashier,"
        " supervisor, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id(), approval.lane, approval.shift_id, kind, cart_id, lines, amount_fen,
         approval.cashier, approval.supervisor, reason, utc_now()))


async def change_quantity(lane: LaneSession, approval: Approval, line_id: str,
                          qty: int) -> LaneEvent:
    """Set a counted line's quantity (1-999); a weighed line is voided and weighed again."""
    line = _line(lane.cart, line_id)
    if line.weight_g is not None or line.label_amount_fen is not None:
        raise LaneError("a weighed item's quantity is its weight: void the line and weigh "
                        "it again")
    if not 1 <= qty <= MAX_QTY:
        raise LaneError(f"a quantity is 1 to {MAX_QTY}; void the line to remove it")
    record = _audit(approval, "lane.quantity_changed", {
        "line_id": line_id, "product_id": line.product_id, "name": line.name,
        "from": line.qty, "to": qty})
    return await lane.set_quantity(line_id, qty, record=record)


async def void_line(lane: LaneSession, approval: Approval, line_id: str,
                    reason: str) -> LaneEvent:
    """Remove one line; its amount at that moment is counted in the shift's voids."""
    def record(conn: sqlite3.Connection, cart: Cart, priced: PricedCart) -> None:
        line = _line(cart, line_id)
        amount = _net(priced, line_id)
        _void_row(conn, approval, "line", cart_id=cart.cart_id, lines=1, amount_fen=amount,
                  reason=reason)
        record_audit(conn, approval.cashier, "lane.line_voided", f"lane:{approval.lane}", {
            "supervisor": approval.supervisor, "line_id": line_id,
            "product_id": line.product_id, "name": line.name, "qty": line.qty,
            "amount_fen": amount, "reason": reason})

    _line(lane.cart, line_id)
    return await lane.remove_line(line_id, record=record)


async def void_sale(lane: LaneSession, approval: Approval, reason: str) -> LaneEvent:
    """Throw the whole cart away (the lane also sends ``cart.voided`` to the CRM)."""
    def record(conn: sqlite3.Connection, cart: Cart, priced: PricedCart) -> None:
        _void_row(conn, approval, "sale", cart_id=cart.cart_id, lines=len(cart.lines),
                  amount_fen=priced.total_fen, reason=reason)
        record_audit(conn, approval.cashier, "lane.sale_voided", f"lane:{approval.lane}", {
            "supervisor": approval.supervisor, "cart_id": cart.cart_id,
            "lines": len(cart.lines), "amount_fen": priced.total_fen, "reason": reason})

    return await lane.void(reason, record=record)


async def override_price(lane: LaneSession, approval: Approval, line_id: str, price_fen: int,
                         reason: str) -> LaneEvent:
    """Sell one line at ``price_fen`` per unit; no member price or promotion applies to it."""
    line = _line(lane.cart, line_id)
    if not 0 <= price_fen <= MAX_PRICE_FEN:
        raise LaneError("the price must be ¥0.00 to ¥1,000,000.00")
    before = line.price_override_fen if line.price_override_fen is not None \
        else line.unit_price_fen
    record = _audit(approval, "lane.price_overridden", {
        "line_id": line_id, "product_id": line.product_id, "name": line.name,
        "from_fen": before, "to_fen": price_fen, "reason": reason})

    def edit(cart: Cart) -> Cart:
        target = cart.line(line_id)
        if target is None:
            raise KeyError(line_id)
        lines = tuple(dataclasses.replace(x, price_override_fen=price_fen)
                      if x.line_id == line_id else x for x in cart.lines)
        return dataclasses.replace(cart, lines=lines)

    event = LaneEvent("price_overridden", f"line {line_id} now {price_fen} fen per unit",
                      data={"line_id": line_id, "name": line.name, "price_fen": price_fen,
                            "supervisor": approval.supervisor})
    return await lane.change(edit, event, record=record)
