"""The printed receipt of a sale, laid out from what the sale committed.

``load_sale`` reads a committed sale back (so a reprint from the console shows exactly what
was sold); ``build_receipt`` is pure and lays it out for a receipt printer of
``receipt_columns`` characters, counting Chinese characters double as the printer does.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from drivers.receipt import Block, Cut, Feed, Qr, Receipt, Text

TENDER_NAMES = {"cash": "现金 Cash", "wechat": "微信支付 WeChat Pay",
                "alipay": "支付宝 Alipay", "points": "积分 Points",
                "stored_value": "储值 Stored value"}


@dataclass(frozen=True, slots=True)
class SaleRecord:
    sale_id: str
    lane: str
    receipt_no: int
    created_at: str
    member_id: str | None
    member_name: str | None
    subtotal_fen: int
    discount_fen: int
    total_fen: int
    change_fen: int
    lines: tuple[dict[str, Any], ...]
    discounts: tuple[dict[str, Any], ...]
    tenders: tuple[dict[str, Any], ...]
    points_earned: int
    points_used: int


def _rows(conn: sqlite3.Connection, sql: str, sale_id: str) -> list[sqlite3.Row]:
    cur = conn.execute(sql, (sale_id,))
    cur.row_factory = sqlite3.Row
    return cur.fetchall()


def load_sale(conn: sqlite3.Connection, sale_id: str) -> SaleRecord | None:
    """Read one committed sale with its lines, discounts, tenders and points."""
    found = _rows(conn, "SELECT s.*, m.name AS member_name FROM sales s LEFT JOIN members m"
                  " ON m.id = s.member_id WHERE s.id = ?", sale_id)
    if not found:
        return None
    sale = found[0]
    lines = _rows(conn, "SELECT name, qty, weight_g, unit_price_fen, base_fen, discount_fen,"
                  " net_fen FROM sale_lines WHERE sale_id = ? ORDER BY line_no", sale_id)
    discounts = _rows(conn, "SELECT label, amount_fen FROM sale_discounts WHERE sale_id = ?"
                      " ORDER BY idx", sale_id)
    tenders = _rows(conn, "SELECT kind, amount_fen FROM tenders WHERE sale_id = ? ORDER BY id",
                    sale_id)
    points = _rows(conn, "SELECT delta FROM ledger WHERE sale_id = ? AND account LIKE"
                   " 'member:%:points'", sale_id)
    return SaleRecord(
        sale["id"], sale["lane"], sale["receipt_no"], sale["created_at"], sale["member_id"],
        sale["member_name"], sale["subtotal_fen"], sale["discount_fen"], sale["total_fen"],
        sale["change_fen"], tuple(dict(r) for r in lines), tuple(dict(r) for r in discounts),
        tuple(dict(r) for r in tenders), sum(r["delta"] for r in points if r["delta"] > 0),
        -sum(r["delta"] for r in points if r["delta"] < 0))


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def width(text: str) -> int:
    """Return how many printer columns ``text`` takes (wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def clip(text: str, columns: int) -> str:
    """Cut ``text`` to at most ``columns`` printer columns."""
    out, used = [], 0
    for c in text:
        used += width(c)
        if used > columns:
            break
        out.append(c)
    return "".join(out)


def two_columns(left: str, right: str, columns: int) -> str:
    """Put ``left`` and ``right`` on one line, ``right`` flush with the edge."""
    left = clip(left, max(0, columns - width(right) - 1))
    return left + " " * (columns - width(left) - width(right)) + right


def mask_member(member_id: str, name: str | None) -> str:
    """Show a member on paper without naming them: 张* M***01."""
    masked_name = (name[0] + "*" * min(2, len(name) - 1)) if name else ""
    masked_id = member_id if len(member_id) <= 3 else \
        member_id[0] + "*" * (len(member_id) - 3) + member_id[-2:]
    return f"{masked_name} {masked_id}".strip()


def local_time(created_at: str, timezone: str) -> str:
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = dt.UTC
    return dt.datetime.fromisoformat(created_at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def build_receipt(sale: SaleRecord, *, store_name: str, store_id: str, timezone: str,
                  columns: int, footer: str, qr: str | None, reprint: bool = False) -> Receipt:
    """Lay out the receipt of ``sale``; ``qr`` is the e-receipt link, if any."""
    rule = Text("-" * columns)
    blocks: list[Block] = [Text(clip(store_name, columns // 2), bold=True, size="double",
                                align="center")]
    if reprint:
        blocks.append(Text("** 重印 REPRINT **", bold=True, align="center"))
    blocks += [
        Text(clip(f"{store_id} 通道 Lane {sale.lane}  No. {sale.receipt_no:06d}", columns),
             align="center"),
        Text(local_time(sale.created_at, timezone), align="center"),
        rule,
    ]
    for line in sale.lines:
        blocks.append(Text(clip(str(line["name"]), columns)))
        if line["weight_g"]:
            amount = f"  {line['weight_g'] / 1000:.3f} kg x {yuan(line['unit_price_fen'])}/kg"
        else:
            amount = f"  {line['qty']} x {yuan(line['unit_price_fen'])}"
        blocks.append(Text(two_columns(amount, yuan(line["base_fen"]), columns)))
        if line["discount_fen"]:
            blocks.append(Text(two_columns("  优惠", yuan(-line["discount_fen"]), columns)))
    blocks.append(rule)
    for discount in sale.discounts:
        blocks.append(Text(two_columns(str(discount["label"]), yuan(-discount["amount_fen"]),
                                       columns)))
    blocks += [
        Text(two_columns("小计 Subtotal", yuan(sale.subtotal_fen), columns)),
        Text(two_columns("优惠 Discount", yuan(-sale.discount_fen), columns)),
        Text(two_columns("合计 Total", yuan(sale.total_fen), columns), bold=True),
    ]
    for tender in sale.tenders:
        name = TENDER_NAMES.get(tender["kind"], tender["kind"])
        blocks.append(Text(two_columns(name, yuan(tender["amount_fen"]), columns)))
    if sale.change_fen:
        blocks.append(Text(two_columns("找零 Change", yuan(sale.change_fen), columns)))
    if sale.member_id:
        blocks += [rule, Text(two_columns("会员 Member", mask_member(sale.member_id,
                                                                    sale.member_name),
                                          columns))]
        if sale.points_used:
            blocks.append(Text(two_columns("使用积分 Points used", f"-{sale.points_used}",
                                           columns)))
        blocks.append(Text(two_columns("本次积分 Points earned", f"+{sale.points_earned}",
                                       columns)))
    if qr:
        blocks += [rule, Text(clip("扫码开电子发票 E-invoice", columns), align="center"), Qr(qr)]
    blocks += [Text(clip(footer, columns), align="center"), Feed(3), Cut()]
    return Receipt(tuple(blocks))
