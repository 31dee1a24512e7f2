"""Per-guide figures for the console: sales, amount, and first-time vs repeat customers.

A customer is a member. Within a date range, a member who bought with the guide is a
*first-time* customer of that guide when their first sale attributed to the guide (ever, at
this appliance) falls in the range, and a *repeat* customer when they had bought with the guide
before it. Sales without a member are counted, and are nobody's customer.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from .store import Store

MAX_DAYS = 366


def range_bounds(timezone: str, first: dt.date, last: dt.date) -> tuple[str, str]:
    """Return the UTC ISO bounds [start, end) of the store's local days ``first``..``last``."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(first, dt.time(0), zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), zone)
    return (start.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
            end.astimezone(dt.UTC).isoformat(timespec="milliseconds"))


def _report(conn: sqlite3.Connection, start: str, end: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "WITH firsts AS (SELECT guide_id, member_id, min(created_at) AS first_at FROM sales"
        "  WHERE guide_id IS NOT NULL AND member_id IS NOT NULL GROUP BY guide_id, member_id)"
        " SELECT s.guide_id, coalesce(g.name, s.guide_id) AS name, count(*) AS sales,"
        "  sum(s.total_fen) AS amount_fen, count(s.member_id) AS member_sales,"
        "  count(DISTINCT s.member_id) AS customers,"
        "  count(DISTINCT CASE WHEN f.first_at >= :start THEN s.member_id END) AS first_time,"
        "  count(DISTINCT CASE WHEN f.first_at < :start THEN s.member_id END) AS repeat"
        " FROM sales s LEFT JOIN firsts f ON f.guide_id = s.guide_id"
        "  AND f.member_id = s.member_id LEFT JOIN guides g ON g.id = s.guide_id"
        " WHERE s.guide_id IS NOT NULL AND s.created_at >= :start AND s.created_at < :end"
        " GROUP BY s.guide_id ORDER BY amount_fen DESC, s.guide_id",
        {"start": start, "end": end})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


async def guide_report(store: Store, timezone: str, first: dt.date,
                       last: dt.date) -> dict[str, Any]:
    """Return the figures of every guide with sales in the local days ``first``..``last``."""
    start, end = range_bounds(timezone, first, last)
    guides = await store.read(lambda conn: _report(conn, start, end))
    return {"from": first.isoformat(), "to": last.isoformat(), "guides": guides,
            "totals": {key: sum(g[key] for g in guides)
                       for key in ("sales", "amount_fen", "first_time", "repeat")}}
