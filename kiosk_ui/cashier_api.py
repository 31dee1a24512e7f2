"""The cashier lane's JSON API: sign-in, typed codes, approved cart changes, cash, suspend.

Every handler here runs behind ``site_access``: a ``CASHIER`` route only reaches it with the
lane's signed-in cashier (and their CSRF token when it changes something). Actions a
supervisor must approve take the supervisor's PIN in the same request: one PIN, one action.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge import lane_actions
from edge.approval import Approval, ApprovalRefused
from edge.cart import new_id
from edge.cashier import SignIn
from edge.lane import LaneEvent, LaneSession

from .errors import ApiError
from .schema import Int, Schema, Str, read_json, read_query
from .security import client_address
from .site_access import EDGE_KEY, cookie_name, signin_of

if TYPE_CHECKING:
    from edge.app import EdgeApp

_LOGGER = logging.getLogger(__name__)
PIN = Str(8, min_len=4, pattern=r"[0-9]{4,8}", required=False)
REASON = Str(200, required=False)
LINE = r"[A-Za-z0-9]{1,32}"
SIGNIN: Schema = {"name": Str(64), "password": Str(256)}
KEYED: Schema = {"code": Str(256), "kind": Str(16, pattern=r"item|member", required=False)}
QUANTITY: Schema = {"qty": Int(1, 999), "supervisor_pin": PIN}
VOID_LINE: Schema = {"supervisor_pin": PIN, "reason": REASON}
PRICE: Schema = {"price_fen": Int(0, 100_000_000), "supervisor_pin": PIN, "reason": REASON}
VOID_SALE: Schema = {"supervisor_pin": PIN, "reason": REASON}
CASH: Schema = {"tendered_fen": Int(1, 10**9 - 1)}
RESUME: Schema = {"suspended_id": Str(32, pattern=r"[a-f0-9]{1,32}")}


def edge_of(request: web.Request) -> EdgeApp:
    return request.app[EDGE_KEY]


def lane_of(request: web.Request) -> LaneSession:
    lane = edge_of(request).lanes.get(request.match_info["lane"])
    if lane is None:
        raise ApiError(404, "no such lane", "no_lane")
    return lane


def event_json(event: LaneEvent) -> dict[str, Any]:
    return {"result": event.code, "ok": event.ok, "message": event.message,
            "data": event.data, "scan_id": event.scan_id}


async def approve(request: web.Request, signin: SignIn, pin: str | None,
                  action: str) -> Approval:
    """Return the supervisor's approval of ``action`` or answer 403 with why."""
    try:
        return await edge_of(request).cashier.approve(signin, pin, action,
                                                     address=client_address(request))
    except ApprovalRefused as err:
        raise ApiError(403, str(err), err.code) from None


def session_view(signin: SignIn | None, edge: EdgeApp, lane_id: str) -> dict[str, Any]:
    shift = edge.cashier.shifts.open_shift(lane_id)
    return {"cashier": None if signin is None else {"name": signin.user.name,
                                                    "role": str(signin.user.role)},
            "csrf": None if signin is None else signin.csrf_token,
            "shift": None if shift is None else shift.as_dict()}


# -- signing in and out -------------------------------------------------------------------

async def api_signin(request: web.Request) -> web.Response:
    """Sign a cashier in at this staffed lane: name and password, rate limited."""
    edge, lane = edge_of(request), lane_of(request)
    body = await read_json(request, SIGNIN)
    if not edge.cashier.staffed(lane.lane_id):
        raise ApiError(409, "this is a self-checkout lane: it has no cashier", "not_staffed")
    edge.require_writable()
    result = await edge.cashier.sign_in(lane.lane_id, body["name"], body["password"],
                                        address=client_address(request))
    if result is None:
        raise ApiError(401, "wrong user name or password", "bad_credentials")
    token, signin = result
    response = web.json_response(session_view(signin, edge, lane.lane_id))
    response.set_cookie(cookie_name(lane.lane_id), token, path="/", httponly=True,
                        samesite="Strict")
    return response


async def api_signout(request: web.Request) -> web.Response:
    await read_json(request, {})
    signin = signin_of(request)
    await edge_of(request).cashier.sign_out(signin.lane, actor=signin.user.name,
                                            reason="signed_out")
    response = web.json_response({"ok": True})
    response.del_cookie(cookie_name(signin.lane), path="/", httponly=True, samesite="Strict")
    return response


# -- the cart -------------------------------------------------------------------------------

async def api_keyed(request: web.Request) -> web.Response:
    """Apply a code typed on the keyboard exactly as if it had been scanned."""
    edge, lane = edge_of(request), lane_of(request)
    body = await read_json(request, KEYED)
    code = body["code"].strip()
    if body.get("kind") == "member" and not code.startswith(edge.config.scan.member_prefixes):
        code = edge.config.scan.member_prefixes[0] + code  # the cashier types digits only
    event = await edge.handle_scan(lane, code, None, f"keyed-{new_id()[:12]}")
    return web.json_response(event_json(event))


async def api_quantity(request: web.Request) -> web.Response:
    lane = lane_of(request)
    body = await read_json(request, QUANTITY)
    approval = await approve(request, signin_of(request), body.get("supervisor_pin"),
                             "a quantity change")
    event = await lane_actions.change_quantity(lane, approval, _line_id(request), body["qty"])
    return web.json_response(event_json(event))


async def api_void_line(request: web.Request) -> web.Response:
    lane = lane_of(request)
    body = await read_json(request, VOID_LINE)
    approval = await approve(request, signin_of(request), body.get("supervisor_pin"),
                             "voiding a line")
    event = await lane_actions.void_line(lane, approval, _line_id(request),
                                         body.get("reason") or "voided at the lane")
    return web.json_response(event_json(event))


async def api_price(request: web.Request) -> web.Response:
    lane = lane_of(request)
    body = await read_json(request, PRICE)
    approval = await approve(request, signin_of(request), body.get("supervisor_pin"),
                             "a price override")
    event = await lane_actions.override_price(lane, approval, _line_id(request),
                                              body["price_fen"],
                                              body.get("reason") or "price override")
    return web.json_response(event_json(event))


def _line_id(request: web.Request) -> str:
    line_id = request.match_info["line"]
    if not line_id.isascii() or not line_id.isalnum() or len(line_id) > 32:
        raise ApiError(400, "line: not a line id", "bad_field", field="line")
    return line_id


async def api_void(request: web.Request) -> web.Response:
    """Void the whole cart: open on a kiosk lane; a supervisor's PIN at a staffed lane."""
    edge, lane = edge_of(request), lane_of(request)
    edge.require_writable()
    if not edge.cashier.staffed(lane.lane_id):
        event = await lane.void("voided from the lane page")
        return web.json_response({"result": event.code})
    body = await read_json(request, VOID_SALE)
    approval = await approve(request, signin_of(request), body.get("supervisor_pin"),
                             "voiding the sale")
    event = await lane_actions.void_sale(lane, approval,
                                         body.get("reason") or "voided at the lane")
    return web.json_response({"result": event.code})


async def api_cash(request: web.Request) -> web.Response:
    """Take cash for the cart; at a staffed lane the drawer opens (once per sale)."""
    edge, lane = edge_of(request), lane_of(request)
    edge.require_writable()
    body = await read_json(request, CASH)
    staffed = edge.cashier.staffed(lane.lane_id)
    if staffed:
        if edge.cashier.shifts.open_shift(lane.lane_id) is None:
            raise ApiError(409, "open a shift (enter the float) first", "shift_closed")
        if body["tendered_fen"] > edge.config.cashier.max_tender_fen:
            raise ApiError(400, "tendered_fen: that is more than this lane takes in cash; "
                           "was it a typing slip?", "bad_field", field="tendered_fen")
    sale = await lane.pay_cash(body["tendered_fen"])
    answer: dict[str, Any] = {
        "sale_id": sale.sale_id, "receipt_no": sale.receipt_no, "total_fen": sale.total_fen,
        "change_fen": sale.change_fen, "points_earned": sale.points_earned, "drawer": None}
    if staffed and edge.config.cashier.kick_drawer_on_cash and \
            edge.printer_for(lane.lane_id) is not None:
        answer["drawer"] = await edge.cashier.kick_drawer(
            # The receipt desk kicks the same job after the commit; the printer's journal
            # opens the drawer once for both.
            lane.lane_id, kick_id=f"drawer:{sale.sale_id}", actor=signin_of(request).user.name,
            reason=f"cash sale {sale.receipt_no}")
    return web.json_response(answer)


async def api_payment_cancel(request: web.Request) -> web.Response:
    """Stop waiting for the shopper's phone: the wallet payment is reversed, the cart stays."""
    event = await lane_of(request).cancel_payment()
    return web.json_response({"result": event.code, "payment": event.data})


# -- suspend and resume -------------------------------------------------------------------

async def api_suspend(request: web.Request) -> web.Response:
    await read_json(request, {})
    suspended_id = await lane_of(request).suspend()
    return web.json_response({"suspended_id": suspended_id})


async def api_suspended(request: web.Request) -> web.Response:
    read_query(request, {})
    lane = lane_of(request)
    return web.json_response({"suspended": await edge_of(request).cashier.suspended(
        lane.lane_id)})


async def api_resume(request: web.Request) -> web.Response:
    body = await read_json(request, RESUME)
    event = await lane_of(request).resume(body["suspended_id"])
    return web.json_response(event_json(event))
