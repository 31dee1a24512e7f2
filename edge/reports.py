"""Read-only views of the sales for the console: today's figures, the sales list, one sale.

Reads only; ``SELECT *`` on purpose for a sale's rows, so columns that payments and loyalty
add later (tender kinds, member data) reach the transactions page without a change here.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from .store import Store

MAX_PAGE = 200


def day_bounds(timezone: str, now: dt.datetime | None = None) -> tuple[str, str]:
    """Return the UTC ISO bounds [start, end) of the store's local calendar day."""
    zone = ZoneInfo(timezone)
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    start = dt.datetime.combine(local.date(), dt.time(0), zone)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), zone)
    return (start.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
            end.astimezone(dt.UTC).isoformat(timespec="milliseconds"))


def _today(conn: sqlite3.Connection, start: str, end: str) -> dict[str, Any]:
    count, amount, members = conn.execute(
        "SELECT count(*), coalesce(sum(total_fen), 0), count(member_id) FROM sales"
        " WHERE created_at >= ? AND created_at < ?", (start, end)).fetchone()
    hours = [{"hour": h, "sales": 0, "amount_fen": 0} for h in range(24)]
    # Hours since local midnight; the small offset keeps a sale at hh:00:00.000 in its hour.
    for hour, n, fen in conn.execute(
        "SELECT CAST(((julianday(created_at) - julianday(?)) * 86400.0 + 0.0005) / 3600"
        " AS INTEGER) AS h, count(*), sum(total_fen) FROM sales"
        " WHERE created_at >= ? AND created_at < ? GROUP BY h", (start, start, end)):
        if 0 <= hour < 24:
            hours[hour]["sales"], hours[hour]["amount_fen"] = int(n), int(fen)
    tenders = [
        {"kind": kind, "count": int(n), "amount_fen": int(fen)}
        for kind, n, fen in conn.execute(
            "SELECT t.kind, count(*), sum(t.amount_fen) FROM tenders t JOIN sales s"
            " ON s.id = t.sale_id WHERE s.created_at >= ? AND s.created_at < ?"
            " GROUP BY t.kind ORDER BY t.kind", (start, end))
    ]
    return {
        "sales": int(count),
        "amount_fen": int(amount),
        "member_sales": int(members),
        # Share of today's sales with an identified member, in per cent (not money).
        "digitisation_pct": round(100.0 * members / count, 1) if count else None,
        "per_hour": hours,
        "tenders": tenders,
    }


async def today_summary(store: Store, timezone: str,
                        now: dt.datetime | None = None) -> dict[str, Any]:
    """Return today's sales count and amount, member share, per-hour and per-tender figures."""
    start, end = day_bounds(timezone, now)
    summary = await store.read(lambda c: _today(c, start, end))
    summary["day_start"], summary["day_end"] = start, end
    return summary


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _list(conn: sqlite3.Connection, receipt_no: int | None, lane: str | None,
          before: str | None, limit: int) -> list[dict[str, Any]]:
    sql = ("SELECT id, lane, receipt_no, member_id, subtotal_fen, discount_fen, total_fen,"
           " paid_fen, change_fen, line_count, created_at FROM sales WHERE 1 = 1")
    params: list[Any] = []
    if receipt_no is not None:
        sql += " AND receipt_no = ?"
        params.append(receipt_no)
    if lane is not None:
        sql += " AND lane = ?"
        params.append(lane)
    if before is not None:
        sql += " AND (created_at, id) < (SELECT created_at, id FROM sales WHERE id = ?)"
        params.append(before)
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return _dicts(conn.execute(sql, params))


async def list_sales(store: Store, *, receipt_no: int | None = None, lane: str | None = None,
                     before: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Return sales newest first; ``before`` is the id of the last sale of the previous page."""
    limit = max(1, min(limit, MAX_PAGE))
    return await store.read(lambda c: _list(c, receipt_no, lane, before, limit))


def _detail(conn: sqlite3.Connection, sale_id: str) -> dict[str, Any] | None:
    sales = _dicts(conn.execute("SELECT * FROM sales WHERE id = ?", (sale_id,)))
    if not sales:
        return None
    return {
        "sale": sales[0],
        "lines": _dicts(conn.execute(
            "SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,))),
        "discounts": _dicts(conn.execute(
            "SELECT * FROM sale_discounts WHERE sale_id = ? ORDER BY idx", (sale_id,))),
        "tenders": _dicts(conn.execute(
            "SELECT * FROM tenders WHERE sale_id = ? ORDER BY id", (sale_id,))),
    }


async def sale_detail(store: Store, sale_id: str) -> dict[str, Any] | None:
    """Return a sale with its lines, discounts and tenders, or None."""
    return await store.read(lambda c: _detail(c, sale_id))
