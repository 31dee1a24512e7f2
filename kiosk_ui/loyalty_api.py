"""The kiosk site's loyalty endpoints: what the kiosk and lane pages call for members,
coupons, points and stored value, joining after payment, and the shareable coupon's QR.

    POST /api/lanes/{lane}/member/phone            {"phone"}
    POST /api/lanes/{lane}/member/phone/confirm    {"digits"}
    POST /api/lanes/{lane}/member/join             {"consent_version", "accepted"}
    POST /api/lanes/{lane}/coupons                 {"code"}
    POST /api/lanes/{lane}/coupons/remove          {"code"}
    POST /api/lanes/{lane}/tenders/points          {"points"}      (0 takes them off)
    POST /api/lanes/{lane}/tenders/stored-value    {"amount_fen"}  (0 takes it off)
    POST /api/lanes/{lane}/tenders/clear           {}
    POST /api/lanes/{lane}/tenders/finish          {}  points and stored value pay it all
    GET  /api/lanes/{lane}/last-sale/coupons/{code}/qr.svg

Each POST answers the lane event it caused: ``{"result", "ok", "message", "data"}`` (a
refusal is an answer too, ``ok: false`` with the reason in ``data``); an action that does not
fit the lane's state is a 409. Bodies are checked strictly (``kiosk_ui.schema``).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import qrcode
import qrcode.image.svg
from aiohttp import web

from .errors import ApiError
from .schema import Bool, Int, Schema, Str, read_json
from .site_access import Access, SiteRoute

if TYPE_CHECKING:
    from edge.app import EdgeApp
    from edge.lane import LaneEvent, LaneSession

CODE = r"[A-Za-z0-9._-]+"
PHONE: Schema = {"phone": Str(11, min_len=11, pattern=r"[0-9]{11}")}
LAST4: Schema = {"digits": Str(4, min_len=4, pattern=r"[0-9]{4}")}
COUPON: Schema = {"code": Str(66, pattern=CODE)}
POINTS: Schema = {"points": Int(0, 10**9)}
STORED_VALUE: Schema = {"amount_fen": Int(0, 10**9)}
JOIN: Schema = {"consent_version": Str(64, pattern=CODE), "accepted": Bool()}
EMPTY: Schema = {}

Action = Callable[["LaneSession", dict[str, Any]], Awaitable["LaneEvent"]]


def _answer(event: LaneEvent) -> web.Response:
    return web.json_response({"result": event.code, "ok": event.ok, "message": event.message,
                              "data": event.data})


def loyalty_routes(edge: Callable[[web.Request], EdgeApp],
                   lane_of: Callable[[web.Request], LaneSession]) -> list[SiteRoute]:
    """Return the endpoints for the site's route table; ``edge`` and ``lane_of`` find the
    daemon and the lane. All are the shopper's: open on a kiosk lane, the signed-in cashier's
    on a staffed one."""

    def action(schema: Schema, act: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            lane = lane_of(request)
            edge(request).require_writable()
            body = await read_json(request, schema)
            return _answer(await act(lane, body))
        return handler

    async def finish(lane: LaneSession, _body: dict[str, Any]) -> LaneEvent:
        await lane.complete([])   # the sale_completed event it publishes is the answer
        assert lane.last_event is not None
        return lane.last_event

    base = "/api/lanes/{lane}"
    routes: list[tuple[str, Schema, Action]] = [
        ("/member/phone", PHONE, lambda lane, b: lane.identify_by_phone(b["phone"])),
        ("/member/phone/confirm", LAST4, lambda lane, b: lane.confirm_phone_last4(b["digits"])),
        ("/member/join", JOIN,
         lambda lane, b: lane.join_member(b["consent_version"], b["accepted"])),
        ("/coupons", COUPON, lambda lane, b: lane.apply_coupon_code(b["code"])),
        ("/coupons/remove", COUPON, lambda lane, b: lane.remove_coupon(b["code"])),
        ("/tenders/points", POINTS, lambda lane, b: lane.use_points(b["points"])),
        ("/tenders/stored-value", STORED_VALUE,
         lambda lane, b: lane.use_stored_value(b["amount_fen"])),
        ("/tenders/clear", EMPTY, lambda lane, _b: lane.clear_loyalty_tenders()),
        ("/tenders/finish", EMPTY, finish),
    ]
    table = [SiteRoute("POST", base + path, action(schema, act), Access.SHOPPER)
             for path, schema, act in routes]

    async def coupon_qr(request: web.Request) -> web.Response:
        """The QR of a coupon the lane's last sale issued (the receipt screen shows it)."""
        lane, code = lane_of(request), request.match_info["code"]
        issued = lane.last_loyalty.get("issued_coupons", [])
        found = next((c for c in issued if c["code"] == code), None)
        if found is None:
            raise ApiError(404, "no such coupon on the last sale", "no_coupon")
        return web.Response(body=qr_svg(found["qr_payload"]), content_type="image/svg+xml",
                            headers={"Cache-Control": "no-store"})

    table.append(SiteRoute("GET", base + "/last-sale/coupons/{code}/qr.svg", coupon_qr,
                           Access.SHOPPER))
    return table


def qr_svg(payload: str) -> bytes:
    """Render ``payload`` as an SVG QR code (qrcode's path image: one element, small)."""
    image = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage, box_size=10,
                        border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()
