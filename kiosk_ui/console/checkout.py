"""Self-checkout on the console: interventions, learned item weights, receipts, badges.

Supervisors see which lanes wait for an attendant and what was cleared by whom, the weights
the bagging scales learned, and receipts that are not on paper (with a reprint, audited).
IT admins give attendants badges and revoke them; a new badge id is shown once.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import ApiError
from ..schema import Schema, Str, read_json
from .context import actor, console

SALE: Schema = {"sale_id": Str(64, pattern=r"[A-Za-z0-9_.:-]+")}
ASSIGN: Schema = {"name": Str(32), "badge_id": Str(64, min_len=8,
                                                   pattern=r"[A-Za-z0-9._-]+", required=False)}
REVOKE: Schema = {"name": Str(32)}


async def api_checkout(request: web.Request) -> web.Response:
    checkout = console(request).edge.checkout
    return web.json_response({
        "attendant": checkout.attendant_view(),
        "recent": await checkout.recent_interventions(),
        "learned": await checkout.learned_weights(),
        "receipts": await checkout.unprinted_receipts(),
    })


async def api_reprint(request: web.Request) -> web.Response:
    body = await read_json(request, SALE)
    edge = console(request).edge
    edge.require_writable()
    result = await edge.checkout.reprint(body["sale_id"], actor(request))
    if result["outcome"] == "not_found":
        raise ApiError(404, result["message"], "no_sale")
    return web.json_response(result)


async def api_badges(request: web.Request) -> web.Response:
    return web.json_response({"badges": await console(request).edge.checkout.badges.list_all()})


async def api_assign_badge(request: web.Request) -> web.Response:
    body = await read_json(request, ASSIGN)
    badge = await console(request).edge.checkout.badges.assign(
        body["name"], body.get("badge_id"), actor=actor(request))
    return web.json_response({"name": body["name"], "badge": f"BADGE:{badge}"}, status=201)


async def api_revoke_badges(request: web.Request) -> web.Response:
    body = await read_json(request, REVOKE)
    count = await console(request).edge.checkout.badges.revoke(body["name"],
                                                               actor=actor(request))
    return web.json_response({"name": body["name"], "revoked": count})
