"""The cashier lane's money outside a sale: shifts with X and Z reports, refunds, the drawer.

Behind ``site_access`` like the rest of the cashier API (``CASHIER`` routes only). A refund
needs a supervisor's PIN in the same request; its id is made by the page before it asks, so a
request sent twice pays once.
"""

from __future__ import annotations

from aiohttp import web

from edge.cart import new_id

from .cashier_api import PIN, REASON, approve, edge_of, lane_of
from .errors import ApiError
from .schema import Int, Items, Schema, Str, read_json, read_query
from .site_access import signin_of

FEN = Int(0, 100_000_000)
LANE_ID = Str(32, pattern=r"[A-Za-z0-9_-]{1,32}")
OPEN_SHIFT: Schema = {"float_fen": FEN}
Z_REPORT: Schema = {"counted_fen": Int(0, 100_000_000, required=False, nullable=True),
                    "next_float_fen": Int(0, 100_000_000, required=False, nullable=True)}
DRAWER: Schema = {"reason": REASON}
LOOKUP: Schema = {"sale_lane": LANE_ID, "receipt_no": Int(1, 10**12)}
REFUND: Schema = {
    "sale_lane": LANE_ID, "receipt_no": Int(1, 10**12),
    "lines": Items({"line_no": Int(1, 10_000), "qty": Int(1, 1_000_000)}, 500,
                   required=False),
    "refund_id": Str(32, min_len=16, pattern=r"[a-f0-9]{16,32}"),
    "supervisor_pin": PIN, "reason": REASON,
}


async def api_shift_open(request: web.Request) -> web.Response:
    """Open the lane's shift with the float counted into the drawer."""
    edge, lane, signin = edge_of(request), lane_of(request), signin_of(request)
    body = await read_json(request, OPEN_SHIFT)
    shift = await edge.cashier.shifts.open(lane.lane_id, body["float_fen"],
                                           actor=signin.user.name)
    lane.refresh()
    return web.json_response({"shift": shift.as_dict()})


async def api_x_report(request: web.Request) -> web.Response:
    """The open shift's figures so far; nothing closes."""
    await read_json(request, {})
    edge, lane, signin = edge_of(request), lane_of(request), signin_of(request)
    report = await edge.cashier.shifts.x_report(lane.lane_id, actor=signin.user.name)
    return web.json_response(report)


async def api_z_report(request: web.Request) -> web.Response:
    """Close the shift with its Z report (printed when the lane has a printer)."""
    edge, lane, signin = edge_of(request), lane_of(request), signin_of(request)
    body = await read_json(request, Z_REPORT)
    store = edge.config.store
    report = await edge.cashier.close_shift(
        lane.lane_id, actor=signin.user.name, counted_fen=body.get("counted_fen"),
        next_float_fen=body.get("next_float_fen"), store_name=store.name,
        timezone=store.timezone)
    return web.json_response(report)


async def api_drawer(request: web.Request) -> web.Response:
    """Open the cash drawer (no sale): audited with who and why."""
    edge, lane, signin = edge_of(request), lane_of(request), signin_of(request)
    body = await read_json(request, DRAWER)
    result = await edge.cashier.kick_drawer(lane.lane_id, kick_id=f"kick-{new_id()}",
                                            actor=signin.user.name,
                                            reason=body.get("reason") or "no sale")
    return web.json_response(result, status=200 if result["ok"] else 502)


async def api_refund_lookup(request: web.Request) -> web.Response:
    """Find a past sale by lane and receipt number, with what is left to refund."""
    edge = edge_of(request)
    query = read_query(request, LOOKUP)
    sale = await edge.cashier.find_sale(query["sale_lane"], query["receipt_no"])
    if sale is None:
        raise ApiError(404, f"no receipt {query['receipt_no']} of lane {query['sale_lane']} "
                       "on this appliance", "no_receipt")
    return web.json_response(sale.as_dict())


async def api_refund(request: web.Request) -> web.Response:
    """Refund chosen lines (or all that is left) of a past sale in cash."""
    edge, signin = edge_of(request), signin_of(request)
    edge.require_writable()
    body = await read_json(request, REFUND)
    wanted: dict[int, int] | None = None
    if body.get("lines"):
        wanted = {}
        for line in body["lines"]:
            wanted[line["line_no"]] = wanted.get(line["line_no"], 0) + line["qty"]
    approval = await approve(request, signin, body.get("supervisor_pin"), "a refund")
    done = await edge.cashier.refund(approval, body["sale_lane"], body["receipt_no"], wanted,
                                     refund_id=body["refund_id"],
                                     reason=body.get("reason") or "refund at the lane")
    drawer = None
    if edge.config.cashier.kick_drawer_on_cash and edge.printer_for(signin.lane) is not None:
        drawer = await edge.cashier.kick_drawer(signin.lane, kick_id=f"{done.refund_id}:drawer",
                                                actor=signin.user.name,
                                                reason=f"refund {done.refund_no}")
    return web.json_response({"refund_id": done.refund_id, "refund_no": done.refund_no,
                              "amount_fen": done.amount_fen, "points": done.points,
                              "receipt_no": done.receipt_no, "drawer": drawer})
