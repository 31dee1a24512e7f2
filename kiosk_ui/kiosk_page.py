"""The self-checkout page ``/kiosk/{lane}``: the shell of its screens and the lane's data.

One page, five screens (attract, cart, pay, receipt, consent) and two overlays (the
attendant lock and "still there?"), switched by ``static/kiosk/kiosk.js`` from the lane's
live snapshot. Everything a product, the CRM or a shopper typed is drawn as text by the
script; this shell holds only our own words (``kiosk.*`` in the catalogs). See docs/kiosk.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .cashier_api import edge_of, lane_of
from .errors import ApiError
from .html import Html, el, join
from .pages import t
from .shopper import shopper_page

if TYPE_CHECKING:
    from edge.app import EdgeApp


def _say(request: web.Request, tag: str, key: str, attrs: dict[str, Any] | None = None,
         *children: object) -> Html:
    """An element holding message ``key`` (re-translated by the language toggle)."""
    return el(tag, {**(attrs or {}), "data-i18n": key}, t(request, key), *children)


def _button(request: web.Request, action: str, key: str, cls: str = "") -> Html:
    return _say(request, "button", key, {"type": "button", "data-action": action,
                                         "class": f"big {cls}".strip()})


def _attract(request: web.Request) -> Html:
    return el("section", {"id": "attract", "class": "screen attract", "data-screen": "attract"},
              _say(request, "h1", "kiosk.attract.welcome"),
              _say(request, "p", "kiosk.attract.scan", {"class": "hint scan-hint"}),
              _say(request, "p", "kiosk.attract.member", {"class": "hint"}),
              el("div", {"class": "actions"},
                 _button(request, "member", "kiosk.action.member"),
                 _button(request, "call", "kiosk.action.call", "quiet")))


def _cart(request: web.Request) -> Html:
    head = join(*(_say(request, "th", f"kiosk.col.{c}", {"scope": "col", "class": f"col-{c}"})
                  for c in ("item", "price", "qty", "net")))
    return el("section", {"id": "cart-screen", "class": "screen cart", "data-screen": "cart",
                          "hidden": True},
              el("div", {"class": "lines"},
                 el("div", {"id": "bagging", "class": "bagging", "role": "status",
                            "hidden": True}),
                 el("table", {"id": "cart"}, el("thead", {}, el("tr", {}, head)),
                    el("tbody", {})),
                 el("ul", {"id": "discounts", "class": "savings"}),
                 el("ul", {"id": "coupons", "class": "savings"})),
              el("aside", {"class": "side"},
                 el("div", {"id": "member", "class": "member", "aria-live": "polite"}),
                 el("dl", {"class": "totals"},
                    _say(request, "dt", "kiosk.subtotal"), el("dd", {"id": "subtotal"}),
                    _say(request, "dt", "kiosk.savings"), el("dd", {"id": "savings"}),
                    _say(request, "dt", "kiosk.total", {"class": "total"}),
                    el("dd", {"id": "total", "class": "total"}, "¥0.00")),
                 el("p", {"id": "message", "class": "message", "role": "status"}),
                 el("div", {"class": "actions"},
                    _button(request, "pay", "kiosk.action.pay", "primary"),
                    _button(request, "member", "kiosk.action.member"),
                    _button(request, "face", "kiosk.action.face", "face-only"),
                    _button(request, "call", "kiosk.action.call", "quiet"))))


def _pay(request: web.Request) -> Html:
    return el("section", {"id": "pay-screen", "class": "screen pay", "data-screen": "pay",
                          "hidden": True},
              _say(request, "h1", "kiosk.pay.title"),
              el("p", {"class": "amount"}, _say(request, "span", "kiosk.pay.due"), " ",
                 el("strong", {"id": "pay-due"})),
              el("p", {"id": "pay-tenders", "class": "tenders"}),
              _say(request, "p", "kiosk.pay.show_code", {"id": "pay-hint", "class": "hint"}),
              el("p", {"id": "pay-progress", "class": "progress", "role": "status",
                       "aria-live": "assertive"}),
              el("p", {"id": "pay-error", "class": "error", "role": "alert", "hidden": True}),
              el("div", {"class": "actions"},
                 _button(request, "points", "kiosk.action.points"),
                 _button(request, "stored_value", "kiosk.action.stored_value"),
                 _button(request, "finish", "kiosk.action.finish", "primary"),
                 _button(request, "cancel_payment", "kiosk.action.cancel_payment"),
                 _button(request, "back", "kiosk.action.back"),
                 _button(request, "call", "kiosk.action.call", "quiet")))


def _receipt(request: web.Request) -> Html:
    return el("section", {"id": "receipt-screen", "class": "screen receipt",
                          "data-screen": "receipt", "hidden": True},
              _say(request, "h1", "kiosk.receipt.thanks"),
              el("p", {"id": "receipt-summary", "class": "summary"}),
              el("p", {"id": "receipt-points", "class": "points"}),
              el("p", {"id": "receipt-print", "class": "print"}),
              el("div", {"class": "qrs"},
                 el("figure", {"id": "ereceipt", "hidden": True},
                    el("img", {"id": "ereceipt-qr", "alt": t(request, "kiosk.receipt.qr_alt")}),
                    _say(request, "figcaption", "kiosk.receipt.qr")),
                 el("div", {"id": "issued", "class": "issued"})),
              el("div", {"id": "join", "class": "join", "hidden": True},
                 el("p", {"id": "join-offer"}),
                 el("p", {"id": "join-consent", "class": "consent-text"}),
                 el("div", {"class": "actions"},
                    _button(request, "join", "kiosk.action.join", "primary"),
                    _button(request, "join_no", "kiosk.action.join_no"))),
              el("div", {"class": "actions"}, _button(request, "done", "kiosk.action.done")))


def _consent(request: web.Request) -> Html:
    return el("section", {"id": "consent-screen", "class": "screen consent",
                          "data-screen": "consent", "hidden": True},
              el("h1", {"id": "consent-title"}),
              el("div", {"id": "consent-text", "class": "consent-text"}),
              el("p", {"id": "consent-status", "class": "message", "role": "status"}),
              el("div", {"class": "actions"},
                 _button(request, "consent_yes", "kiosk.consent.yes", "primary"),
                 _button(request, "consent_chain", "kiosk.consent.chain"),
                 _button(request, "consent_enrol", "kiosk.consent.enrol", "primary"),
                 _button(request, "consent_withdraw", "kiosk.consent.withdraw"),
                 _button(request, "consent_no", "kiosk.consent.no")))


def _lock(request: web.Request) -> Html:
    return el("div", {"id": "lock", "class": "lock", "role": "alertdialog", "aria-modal": "true",
                      "hidden": True},
              el("p", {"id": "lock-reason", "class": "reason"}),
              _say(request, "p", "kiosk.lock.wait", {"class": "wait"}),
              el("p", {"id": "lock-message", "class": "error", "role": "alert"}),
              el("div", {"id": "pinpad", "class": "pinpad"}),
              _say(request, "button", "kiosk.lock.staff", {"type": "button", "id": "lock-staff",
                                                           "class": "big quiet"}))


def _still_there(request: web.Request) -> Html:
    return el("div", {"id": "still-there", "class": "overlay", "role": "alertdialog",
                      "hidden": True},
              el("div", {"class": "box"},
                 _say(request, "h2", "kiosk.idle.question"),
                 el("p", {"id": "still-there-count"}),
                 el("button", {"type": "button", "id": "still-here", "class": "big primary",
                               "data-i18n": "kiosk.idle.yes"}, t(request, "kiosk.idle.yes"))))


def kiosk_data(request: web.Request) -> dict[str, Any]:
    """Return the page's embedded data: lane, store, timers and what the kiosk offers."""
    edge, lane = edge_of(request), lane_of(request)
    config = edge.config
    face = edge.face if config.kiosk.show_face else None
    return {"lane": lane.lane_id,
            "store": {"id": config.store.id, "name": config.store.name,
                      "timezone": config.store.timezone},
            "kiosk": config.kiosk.page_data(),
            "member_prefix": config.scan.member_prefixes[0],
            "face": None if face is None else face.consent_texts()}


async def kiosk_page(request: web.Request) -> web.Response:
    """Return the self-checkout page of a kiosk lane (404 for any other lane)."""
    edge, lane = edge_of(request), lane_of(request)
    lane_config = edge.config.lane(lane.lane_id)
    if lane_config is None or lane_config.kind != "kiosk":
        raise ApiError(404, f"lane {lane.lane_id} is not a self-checkout kiosk", "not_kiosk")
    store = edge.config.store
    main = join(_attract(request), _cart(request), _pay(request), _receipt(request),
                _consent(request), _lock(request), _still_there(request))
    return shopper_page(request, title=f"{store.name} — {t(request, 'kiosk.title')}",
                        page="kiosk", main=main, store_name=store.name,
                        scripts=("kiosk/kiosk.js",), styles=("kiosk/kiosk.css",),
                        data=kiosk_data(request))


def setup_kiosk(edge: EdgeApp) -> None:
    """Add to each kiosk lane's snapshot whether wallet payment codes can be taken now."""
    for lane_config in edge.config.lanes:
        lane = edge.lanes.get(lane_config.id)
        if lane_config.kind == "kiosk" and lane is not None:
            lane.views["wallet_online"] = edge.payments.online
