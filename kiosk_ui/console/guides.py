"""Shop guides (导购): per-guide sales, amount and first-time vs repeat customers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from aiohttp import web

from edge.guides import MAX_DAYS, guide_report

from ..errors import ApiError
from ..schema import Schema, Str, read_query
from .context import console

DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
GUIDES_QUERY: Schema = {"from": Str(10, pattern=DATE, required=False),
                        "to": Str(10, pattern=DATE, required=False)}


def _date(value: str | None, default: dt.date, field: str) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{field}: not a date", "bad_field", field=field) from None


async def api_guides(request: web.Request) -> web.Response:
    query = read_query(request, GUIDES_QUERY)
    edge = console(request).edge
    today = dt.datetime.now(ZoneInfo(edge.config.store.timezone)).date()
    last = _date(query.get("to"), today, "to")
    first = _date(query.get("from"), last - dt.timedelta(days=6), "from")
    if first > last or (last - first).days >= MAX_DAYS:
        raise ApiError(400, f"from must be on or before to, at most {MAX_DAYS} days",
                       "bad_range")
    return web.json_response(await guide_report(edge.store, edge.config.store.timezone,
                                                first, last))
