"""Commit a sale: sale, lines, discounts, tenders, ledger entries and its outbox event, atomically.

``plan_sale`` is pure and runs on the event loop; ``write_sale`` runs inside the store's write
transaction and only assigns the gap-free numbers and inserts rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cart import Cart, utc_now
from .errors import SaleRefused
from .pricing import PricedCart

SALE_COMPLETED = "sale.completed"


@dataclass(frozen=True, slots=True)
class Tender:
    kind: str
    amount_fen: int
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxIdentity:
    store_id: str
    device_id: str


@dataclass(frozen=True, slots=True)
class SalePlan:
    """Every row of a sale, computed before the transaction opens."""

    sale_id: str
    cart_id: str
    lane: str
    member_id: str | None
    created_at: str
    subtotal_fen: int
    discount_fen: int
    total_fen: int
    paid_fen: int
    change_fen: int
    lines: tuple[tuple[Any, ...], ...]
    discounts: tuple[tuple[Any, ...], ...]
    tenders: tuple[tuple[Any, ...], ...]
    ledger: tuple[tuple[Any, ...], ...]
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CompletedSale:
    sale_id: str
    lane: str
    receipt_no: int
    total_fen: int
    paid_fen: int
    change_fen: int
    member_id: str | None
    points_earned: int
    outbox_seq: int
    created_at: str


def plan_sale(
    cart: Cart,
    priced: PricedCart,
    tenders: Sequence[Tender],
    *,
    fen_per_point: int,
    now: str | None = None,
) -> SalePlan:
    """Check the tenders against the total and lay out every row; raise ``SaleRefused``."""
    if cart.empty:
        raise SaleRefused("the cart is empty")
    if any(t.amount_fen <= 0 for t in tenders):
        raise SaleRefused("a tender must be a positive amount")
    paid = sum(t.amount_fen for t in tenders)
    total = priced.total_fen
    if paid < total:
        raise SaleRefused(f"paid {paid} fen, {total - paid} fen short of the total {total}")
    cash = sum(t.amount_fen for t in tenders if t.kind == "cash")
    change = paid - total
    if change > cash:
        raise SaleRefused("only cash can be overpaid; other tenders must match the total")
    created = now or utc_now()
    sid = cart.sale_id
    by_id = {pl.line_id: pl for pl in priced.lines}
    lines = tuple(
        (sid, no, ln.product_id, ln.name, ln.qty, ln.weight_g,
         ln.price_override_fen if ln.price_override_fen is not None else ln.unit_price_fen,
         by_id[ln.line_id].base_fen, by_id[ln.line_id].discount_fen, by_id[ln.line_id].net_fen)
        for no, ln in enumerate(cart.lines, start=1)
    )
    discounts = tuple(
        (sid, i, d.promotion_id, d.label, d.amount_fen)
        for i, d in enumerate(priced.discounts, start=1)
    )
    tender_rows = tuple(
        (f"{sid}:t{i}", sid, t.kind, t.amount_fen, t.reference, created)
        for i, t in enumerate(tenders, start=1)
    )
    ledger: list[tuple[Any, ...]] = []
    if cash:
        ledger.append((f"{sid}:drawer", f"drawer:{cart.lane}:cash", cash - change, sid,
                       "sale", created))
    member_id = cart.member.id if cart.member else None
    points = total // fen_per_point if member_id else 0
    if points:
        ledger.append((f"{sid}:points", f"member:{member_id}:points", points, sid,
                       "earned", created))
    payload = {
        "sale_id": sid,
        "cart_id": cart.cart_id,
        "lane": cart.lane,
        "member_id": member_id,
        "created_at": created,
        "subtotal_fen": priced.subtotal_fen,
        "discount_fen": priced.discount_fen,
        "total_fen": total,
        "paid_fen": paid,
        "change_fen": change,
        "lines": [
            {"line_no": r[1], "product_id": r[2], "name": r[3], "qty": r[4], "weight_g": r[5],
             "unit_price_fen": r[6], "base_fen": r[7], "discount_fen": r[8], "net_fen": r[9]}
            for r in lines
        ],
        "discounts": [{"promotion_id": r[2], "label": r[3], "amount_fen": r[4]}
                      for r in discounts],
        "tenders": [{"tender_id": r[0], "kind": r[2], "amount_fen": r[3], "reference": r[4]}
                    for r in tender_rows],
        "ledger": [{"entry_id": r[0], "account": r[1], "delta": r[2], "reason": r[4]}
                   for r in ledger],
    }
    return SalePlan(sid, cart.cart_id, cart.lane, member_id, created, priced.subtotal_fen,
                    priced.discount_fen, total, paid, change, lines, discounts, tender_rows,
                    tuple(ledger), payload)


def next_counter(conn: sqlite3.Connection, name: str) -> int:
    """Return the next value of a gap-free counter; call only inside a write transaction."""
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1)"
        " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        (name,),
    ).fetchone()
    return int(row[0])


def append_outbox(
    conn: sqlite3.Connection,
    identity: OutboxIdentity,
    event_type: str,
    payload: dict[str, Any],
    occurred_at: str,
    *,
    seq: int | None = None,
) -> int:
    """Append one event for the CRM inside the caller's transaction; return its sequence."""
    if seq is None:
        seq = next_counter(conn, "outbox_seq")
    event_id = f"{identity.store_id}:{identity.device_id}:{seq}"
    conn.execute(
        "INSERT INTO outbox (seq, event_id, type, occurred_at, payload) VALUES (?, ?, ?, ?, ?)",
        (seq, event_id, event_type, occurred_at,
         json.dumps(payload, ensure_ascii=False, separators=(",", ":"))),
    )
    return seq


def write_sale(
    conn: sqlite3.Connection, plan: SalePlan, identity: OutboxIdentity
) -> tuple[int, int]:
    """Insert the planned sale; return (receipt number, outbox sequence).

    A sale id that is already there is a retry of a commit that succeeded: its numbers are
    returned and nothing is written twice.
    """
    done = conn.execute(
        "SELECT receipt_no, outbox_seq FROM sales WHERE id = ?", (plan.sale_id,)
    ).fetchone()
    if done is not None:
        conn.execute("DELETE FROM open_carts WHERE lane = ? AND cart_id = ?",
                     (plan.lane, plan.cart_id))
        return int(done[0]), int(done[1])
    receipt_no = next_counter(conn, f"receipt:{plan.lane}")
    seq = next_counter(conn, "outbox_seq")
    conn.execute(
        "INSERT INTO sales (id, cart_id, lane, receipt_no, member_id, subtotal_fen,"
        " discount_fen, total_fen, paid_fen, change_fen, line_count, outbox_seq, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (plan.sale_id, plan.cart_id, plan.lane, receipt_no, plan.member_id, plan.subtotal_fen,
         plan.discount_fen, plan.total_fen, plan.paid_fen, plan.change_fen, len(plan.lines),
         seq, plan.created_at),
    )
    conn.executemany("INSERT INTO sale_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", plan.lines)
    if plan.discounts:
        conn.executemany("INSERT INTO sale_discounts VALUES (?, ?, ?, ?, ?)", plan.discounts)
    if plan.tenders:
        conn.executemany(
            "INSERT INTO tenders (id, sale_id, kind, amount_fen, reference, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            plan.tenders,
        )
    if plan.ledger:
        conn.executemany(
            "INSERT INTO ledger (id, account, delta, sale_id, reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            plan.ledger,
        )
    payload = dict(plan.payload, receipt_no=receipt_no)
    append_outbox(conn, identity, SALE_COMPLETED, payload, plan.created_at, seq=seq)
    conn.execute("DELETE FROM open_carts WHERE lane = ? AND cart_id = ?",
                 (plan.lane, plan.cart_id))
    return receipt_no, seq
