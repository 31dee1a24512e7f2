"""The layout of every page shoppers see (aisle screens now, the kiosk next): big type.

``shopper_page`` wraps ``render_page`` with what such pages share: the store's name, a clock,
a large language toggle (zh-CN first; back to zh-CN when nobody touches the screen), styles
readable from 3 m that fit both 1920x1080 and 1080x1920, and ``static/js/shopper.js`` for
the behaviour (``initShopper``, ``eventText``). The page's own module and data go on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .html import Html, el, join
from .pages import render_page, t


def shopper_page(request: web.Request, *, title: str, page: str, main: Html,
                 store_name: str, scripts: Sequence[str], styles: Sequence[str] = (),
                 data: dict[str, Any] | None = None) -> web.Response:
    """Return a shopper-facing page: header (store, clock, language) and ``main``."""
    header = el("header", {"class": "shopper-bar"},
                el("span", {"class": "store"}, store_name),
                el("time", {"id": "clock", "class": "clock"}),
                el("button", {"type": "button", "id": "lang-toggle", "class": "lang"},
                   t(request, "common.other_lang")))
    return render_page(request, title=title, page=page, scripts=scripts,
                       styles=("shopper.css", *styles), data=data,
                       body=join(header, el("main", {"id": "main"}, main),
                                 el("div", {"id": "offline", "class": "offline", "role": "status",
                                            "hidden": True, "data-i18n": "shopper.offline"},
                                    t(request, "shopper.offline"))))
