"""Refunds of past sales by receipt number: whole or chosen lines, cash out of the drawer.

``plan_refund`` is pure: what each line gives back (its net amount after every discount, in
proportion to the units returned, the last unit taking the remainder so a line never gives
back more or less than it cost), the member points taken back in proportion, and every row.
``write_refund`` runs in one transaction: it re-checks what is left to refund, numbers the
refund, and writes the refund, its lines, the ledger deltas (drawer cash out, points back),
the ``sale.refunded`` event for the CRM and the audit row. The refund id is made before the
write, so a retried request is recognised and never pays twice.

Only cash goes back here. A sale paid by WeChat or Alipay is refunded through the provider's
refund, which this appliance does not call: the lane page says so.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .approval import Approval
from .audit import record_audit
from .cart import utc_now
from .errors import LaneError
from .sales import OutboxIdentity, append_outbox, next_counter
from .store import Store

SALE_REFUNDED = "sale.refunded"


@dataclass(frozen=True, slots=True)
class RefundableLine:
    line_no: int
    product_id: str
    name: str
    qty: int
    weight_g: int | None
    net_fen: int
    refunded_qty: int
    refunded_fen: int

    @property
    def left(self) -> int:
        return self.qty - self.refunded_qty


@dataclass(frozen=True, slots=True)
class SaleForRefund:
    sale_id: str
    lane: str
    receipt_no: int
    created_at: str
    member_id: str | None
    total_fen: int
    lines: tuple[RefundableLine, ...]
    tenders: tuple[tuple[str, int], ...]
    points_earned: int
    points_refunded: int

    @property
    def refunded_fen(self) -> int:
        return sum(line.refunded_fen for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sale_id": self.sale_id, "lane": self.lane, "receipt_no": self.receipt_no,
            "created_at": self.created_at, "member_id": self.member_id,
            "total_fen": self.total_fen, "refunded_fen": self.refunded_fen,
            "tenders": [{"kind": k, "amount_fen": a} for k, a in self.tenders],
            "wallet_paid": any(k in ("wechat", "alipay") for k, _ in self.tenders),
            "lines": [{"line_no": x.line_no, "product_id": x.product_id, "name": x.name,
                       "qty": x.qty, "weight_g": x.weight_g, "net_fen": x.net_fen,
                       "refunded_qty": x.refunded_qty, "left": x.left} for x in self.lines],
        }


@dataclass(frozen=True, slots=True)
class RefundPlan:
    refund_id: str
    lane: str
    sale: SaleForRefund
    lines: tuple[tuple[int, int, int], ...]
    """(line_no, qty, amount_fen) of every line given back."""
    amount_fen: int
    points: int
    reason: str


@dataclass(frozen=True, slots=True)
class RefundDone:
    refund_id: str
    refund_no: int
    amount_fen: int
    points: int
    sale_id: str
    receipt_no: int


def _find(conn: sqlite3.Connection, sale_lane: str, receipt_no: int) -> SaleForRefund | None:
    sale = conn.execute("SELECT id, lane, receipt_no, created_at, member_id, total_fen"
                        " FROM sales WHERE lane = ? AND receipt_no = ?",
                        (sale_lane, receipt_no)).fetchone()
    if sale is None:
        return None
    sid = sale[0]
    refunded = {int(n): (int(q), int(f)) for n, q, f in conn.execute(
        "SELECT rl.line_no, sum(rl.qty), sum(rl.amount_fen) FROM refund_lines rl"
        " JOIN refunds r ON r.id = rl.refund_id WHERE r.sale_id = ? GROUP BY rl.line_no",
        (sid,))}
    lines = tuple(
        RefundableLine(int(no), pid, name, int(qty), weight, int(net),
                       *refunded.get(int(no), (0, 0)))
        for no, pid, name, qty, weight, net in conn.execute(
            "SELECT line_no, product_id, name, qty, weight_g, net_fen FROM sale_lines"
            " WHERE sale_id = ? ORDER BY line_no", (sid,)))
    tenders = tuple((k, int(a)) for k, a in conn.execute(
        "SELECT kind, amount_fen FROM tenders WHERE sale_id = ? ORDER BY id", (sid,)))
    earned, taken = conn.execute(
        "SELECT coalesce(sum(CASE WHEN reason = 'earned' THEN delta END), 0),"
        " coalesce(-sum(CASE WHEN reason = 'refund' THEN delta END), 0) FROM ledger"
        " WHERE sale_id = ? AND account LIKE 'member:%:points'", (sid,)).fetchone()
    return SaleForRefund(sid, sale[1], int(sale[2]), sale[3], sale[4], int(sale[5]), lines,
                         tenders, int(earned), int(taken))


async def find_sale(store: Store, sale_lane: str, receipt_no: int) -> SaleForRefund | None:
    """Return a sale of this appliance by lane and receipt number, with what is left."""
    return await store.read(lambda conn: _find(conn, sale_lane, receipt_no))


def plan_refund(sale: SaleForRefund, wanted: Mapping[int, int] | None, *, refund_id: str,
                lane: str, reason: str, now: dt.datetime, max_age_days: int) -> RefundPlan:
    """Lay out a refund of ``wanted`` (line_no -> units; None: all that is left)."""
    if max_age_days and now - dt.datetime.fromisoformat(sale.created_at) > dt.timedelta(
            days=max_age_days):
        raise LaneError(f"this sale is older than {max_age_days} days: a refund needs the "
                        "store office")
    by_no = {line.line_no: line for line in sale.lines}
    if wanted is None:
        wanted = {line.line_no: line.left for line in sale.lines if line.left > 0}
    rows: list[tuple[int, int, int]] = []
    for line_no, qty in sorted(wanted.items()):
        line = by_no.get(line_no)
        if line is None:
            raise LaneError(f"receipt {sale.receipt_no} has no line {line_no}")
        if not 0 < qty <= line.left:
            raise LaneError(f"line {line_no} ({line.name}): {line.left} left to refund, "
                            f"not {qty}")
        if qty == line.left:   # the last units take what is left, so the line adds up exactly
            amount = line.net_fen - line.refunded_fen
        else:
            amount = line.net_fen * qty // line.qty
        rows.append((line_no, qty, amount))
    amount_fen = sum(r[2] for r in rows)
    if not rows or amount_fen <= 0:
        raise LaneError("nothing left to refund on this receipt")
    refunded_after = sale.refunded_fen + amount_fen
    if refunded_after >= sale.total_fen:
        points = sale.points_earned - sale.points_refunded
    else:
        points = sale.points_earned * refunded_after // max(1, sale.total_fen) \
            - sale.points_refunded
    return RefundPlan(refund_id, lane, sale, tuple(rows), amount_fen, max(0, points), reason)


def refund_payload(plan: RefundPlan, refund_no: int, created_at: str) -> dict[str, Any]:
    sale = plan.sale
    by_no = {line.line_no: line for line in sale.lines}
    return {
        "refund_id": plan.refund_id, "refund_no": refund_no, "lane": plan.lane,
        "sale_id": sale.sale_id, "sale_lane": sale.lane, "receipt_no": sale.receipt_no,
        "member_id": sale.member_id, "created_at": created_at,
        "amount_fen": plan.amount_fen, "reason": plan.reason,
        "lines": [{"line_no": no, "product_id": by_no[no].product_id, "name": by_no[no].name,
                   "qty": qty, "amount_fen": amount} for no, qty, amount in plan.lines],
        "tenders": [{"tender_id": f"{plan.refund_id}:t1", "kind": "cash",
                     "amount_fen": plan.amount_fen, "reference": None}],
        "ledger": [{"entry_id": entry_id, "account": account, "delta": delta, "reason": "refund"}
                   for entry_id, account, delta in _ledger(plan)],
    }


def _ledger(plan: RefundPlan) -> list[tuple[str, str, int]]:
    entries = [(f"{plan.refund_id}:drawer", f"drawer:{plan.lane}:cash", -plan.amount_fen)]
    if plan.points and plan.sale.member_id:
        entries.append((f"{plan.refund_id}:points", f"member:{plan.sale.member_id}:points",
                        -plan.points))
    return entries


def write_refund(conn: sqlite3.Connection, plan: RefundPlan, approval: Approval,
                 identity: OutboxIdentity) -> RefundDone:
    """Insert the planned refund in the caller's transaction; a repeated id is not redone."""
    done = conn.execute("SELECT refund_no, amount_fen, points FROM refunds WHERE id = ?",
                        (plan.refund_id,)).fetchone()
    sale = plan.sale
    if done is not None:
        return RefundDone(plan.refund_id, int(done[0]), int(done[1]), int(done[2]),
                          sale.sale_id, sale.receipt_no)
    fresh = _find(conn, sale.lane, sale.receipt_no)
    if fresh is None or fresh.lines != sale.lines:
        raise LaneError("this receipt changed while you were choosing: look it up again")
    created = utc_now()
    refund_no = next_counter(conn, f"refund:{plan.lane}")
    payload = refund_payload(plan, refund_no, created)
    seq = append_outbox(conn, identity, SALE_REFUNDED, payload, created)
    conn.execute(
        "INSERT INTO refunds (id, lane, refund_no, shift_id, sale_id, amount_fen, points,"
        " cashier, supervisor, reason, outbox_seq, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (plan.refund_id, plan.lane, refund_no, approval.shift_id, sale.sale_id,
         plan.amount_fen, plan.points, approval.cashier, approval.supervisor, plan.reason, seq,
         created))
    conn.executemany("INSERT INTO refund_lines (refund_id, line_no, qty, amount_fen)"
                     " VALUES (?, ?, ?, ?)",
                     [(plan.refund_id, no, qty, amount) for no, qty, amount in plan.lines])
    conn.executemany("INSERT INTO ledger (id, account, delta, sale_id, reason, created_at)"
                     " VALUES (?, ?, ?, ?, 'refund', ?)",
                     [(eid, account, delta, sale.sale_id, created)
                      for eid, account, delta in _ledger(plan)])
    record_audit(conn, approval.cashier, "lane.refunded", f"lane:{plan.lane}", {
        "supervisor": approval.supervisor, "refund_no": refund_no, "sale_id": sale.sale_id,
        "receipt": f"{sale.lane}-{sale.receipt_no}", "amount_fen": plan.amount_fen,
        "points": plan.points, "reason": plan.reason})
    return RefundDone(plan.refund_id, refund_no, plan.amount_fen, plan.points, sale.sale_id,
                      sale.receipt_no)
