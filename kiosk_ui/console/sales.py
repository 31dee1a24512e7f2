"""Transactions and receipts: sales newest first, by receipt number, one sale in full."""

from __future__ import annotations

from aiohttp import web

from edge.reports import MAX_PAGE, list_sales, sale_detail

from ..errors import ApiError
from ..schema import Int, Schema, Str, read_query
from .context import console

ID = r"[A-Za-z0-9_.:-]+"
SALES_QUERY: Schema = {
    "receipt": Int(1, 10**9, required=False),
    "lane": Str(32, pattern=ID, required=False),
    "before": Str(64, pattern=ID, required=False),
    "limit": Int(1, MAX_PAGE, required=False),
}


async def api_sales(request: web.Request) -> web.Response:
    query = read_query(request, SALES_QUERY)
    limit = query.get("limit", 50)
    sales = await list_sales(console(request).edge.store, receipt_no=query.get("receipt"),
                             lane=query.get("lane"), before=query.get("before"), limit=limit)
    return web.json_response({"sales": sales,
                              "next": sales[-1]["id"] if len(sales) == limit else None})


async def api_sale(request: web.Request) -> web.Response:
    sale_id = request.match_info["sale"]
    detail = await sale_detail(console(request).edge.store, sale_id[:64])
    if detail is None:
        raise ApiError(404, "no such sale", "no_sale")
    return web.json_response(detail)
