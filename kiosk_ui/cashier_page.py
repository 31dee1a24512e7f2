"""The cashier lane page's shell: the till's landmarks, the key legend, the lane's data.

The cart, the totals and every message are drawn by ``static/lane/cashier.js`` from the
lane's live snapshot, as text. The shell says who is signed in (only to the browser holding
the lane's sign-in cookie) and carries that sign-in's CSRF token.
"""

from __future__ import annotations

from aiohttp import web

from .cashier_api import edge_of, lane_of, session_view
from .html import Html, el, join
from .pages import render_page, t
from .site_access import cookie_name

# (action, keys shown, i18n key): the legend on screen, and what cashier.js binds.
KEYS = (
    ("quantity", "F2 / Q / *", "lane.key.quantity"),
    ("void_line", "F3 / D / Del", "lane.key.void_line"),
    ("price", "F4 / P", "lane.key.price"),
    ("suspend", "F5 / S", "lane.key.suspend"),
    ("member", "F6 / M", "lane.key.member"),
    ("refund", "F7 / R", "lane.key.refund"),
    ("drawer", "F8 / K", "lane.key.drawer"),
    ("x_report", "F9 / X", "lane.key.x_report"),
    ("z_report", "F10 / Z", "lane.key.z_report"),
    ("void_sale", "V", "lane.key.void_sale"),
    ("keyed", "E", "lane.key.keyed"),
    ("cash", "0-9 ↵", "lane.key.cash"),
    ("signout", "L", "lane.key.signout"),
)


def _i18n(request: web.Request, tag: str, key: str, attrs: dict[str, object] | None = None
          ) -> Html:
    return el(tag, {**(attrs or {}), "data-i18n": key}, t(request, key))


def _header(request: web.Request, lane_name: str) -> Html:
    return el("header", {"class": "bar"},
              el("span", {"class": "brand"}, "StoreEdge"),
              el("span", {"class": "lane-name"}, lane_name),
              el("span", {"id": "cashier", "class": "who"}),
              el("span", {"id": "shift", "class": "shift"}),
              el("span", {"id": "sync", "class": "sync", "data-state": ""}),
              el("button", {"type": "button", "id": "lang-toggle", "class": "quiet"},
                 t(request, "common.other_lang")))


def _signin(request: web.Request) -> Html:
    return el("section", {"id": "signin", "class": "signin", "hidden": True},
              _i18n(request, "h1", "lane.signin.title"),
              el("form", {"id": "signin-form", "autocomplete": "off"},
                 el("label", {"class": "field"}, _i18n(request, "span", "lane.signin.name"),
                    el("input", {"name": "name", "required": True, "maxlength": "64",
                                 "autocomplete": "username"})),
                 el("label", {"class": "field"},
                    _i18n(request, "span", "lane.signin.password"),
                    el("input", {"name": "password", "type": "password", "required": True,
                                 "maxlength": "256", "autocomplete": "current-password"})),
                 _i18n(request, "button", "lane.signin.submit",
                       {"type": "submit", "class": "primary"}),
                 el("p", {"id": "signin-error", "class": "error", "role": "alert"})))


def _till(request: web.Request) -> Html:
    head = join(*(_i18n(request, "th", key, {"scope": "col"}) for key in (
        "lane.col.no", "lane.col.item", "lane.col.qty", "lane.col.price", "lane.col.amount",
        "lane.col.discount", "lane.col.net")))
    legend = join(*(el("li", {}, el("button", {"type": "button", "data-action": action,
                                               "class": "key"},
                                       el("kbd", {}, keys), " ", _i18n(request, "span", key)))
                    for action, keys, key in KEYS))
    return el("section", {"id": "till", "class": "till", "hidden": True},
              el("div", {"class": "cart-pane"},
                 el("div", {"id": "alert", "class": "alert", "role": "alert", "hidden": True}),
                 el("table", {"id": "cart"}, el("thead", {}, el("tr", {}, head)),
                    el("tbody", {})),
                 el("ul", {"id": "discounts", "class": "discounts"}),
                 el("ul", {"id": "coupons", "class": "coupons"})),
              el("aside", {"class": "side"},
                 el("div", {"id": "member", "class": "member"}),
                 el("dl", {"class": "totals"},
                    _i18n(request, "dt", "lane.subtotal"), el("dd", {"id": "subtotal"}),
                    _i18n(request, "dt", "lane.discount"), el("dd", {"id": "discount"}),
                    _i18n(request, "dt", "lane.total", {"class": "total"}),
                    el("dd", {"id": "total", "class": "total"}, "¥0.00")),
                 el("div", {"class": "entry"},
                    el("span", {"id": "entry-mode", "class": "mode"}),
                    el("output", {"id": "buffer", "aria-live": "polite"})),
                 el("div", {"id": "change", "class": "change", "hidden": True}),
                 el("p", {"id": "message", "class": "message", "role": "status"}),
                 el("p", {"id": "last-sale", "class": "last-sale"})),
              el("nav", {"class": "keys", "aria-label": t(request, "lane.keys")},
                 el("ul", {}, legend)))


async def cashier_page(request: web.Request) -> web.Response:
    """Return a staffed lane's page: sign-in when nobody here is signed in, else the till."""
    edge, lane = edge_of(request), lane_of(request)
    signin = await edge.cashier.signed_in(lane.lane_id,
                                          request.cookies.get(cookie_name(lane.lane_id), ""))
    lane_config = edge.config.lane(lane.lane_id)
    lane_name = lane_config.name if lane_config else lane.lane_id
    store = edge.config.store
    session = session_view(signin, edge, lane.lane_id)
    return render_page(
        request, title=f"{lane_name} — StoreEdge · {store.name}", page="cashier",
        scripts=("lane/cashier.js",), styles=("lane/cashier.css",),
        body=join(_header(request, lane_name),
                  el("main", {"id": "main", "data-lane": lane.lane_id},
                     _signin(request), _till(request))),
        meta={"csrf-token": session["csrf"] or ""},
        data={"lane": lane.lane_id, "lane_name": lane_name,
              "store": {"id": store.id, "name": store.name, "timezone": store.timezone},
              "session": {k: v for k, v in session.items() if k != "csrf"},
              "drawer": edge.printer_for(lane.lane_id) is not None,
              "member_prefix": edge.config.scan.member_prefixes[0]})
