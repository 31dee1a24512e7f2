"""The page layout every site shares: language, styles, ES modules, embedded data.

A page is a server-rendered shell (title, landmarks, the i18n catalog of its language and its
initial data as JSON) plus ES modules that render data with ``textContent``. Nothing a user or
the CRM typed is ever written into the shell except through ``kiosk_ui.html``'s escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .html import Html, el, join, json_script
from .i18n import HTML_LANG, LANGS, Catalogs, negotiate

CATALOGS_KEY: web.AppKey[Catalogs] = web.AppKey("catalogs", Catalogs)
STATIC_KEY: web.AppKey[str] = web.AppKey("static_prefix", str)
HOME_KEY: web.AppKey[str] = web.AppKey("home", str)
STYLES_KEY: web.AppKey[tuple[str, ...]] = web.AppKey("styles", tuple)


def setup_pages(app: web.Application, static_prefix: str, *, home: str = "/",
                styles: tuple[str, ...] = ()) -> None:
    """Give ``app`` the catalogs, its static prefix, its home page and default styles."""
    app[CATALOGS_KEY] = Catalogs()
    app[STATIC_KEY] = static_prefix.rstrip("/")
    app[HOME_KEY] = home
    app[STYLES_KEY] = styles


def t(request: web.Request, key: str, **params: Any) -> str:
    """Return message ``key`` in the visitor's language."""
    return request.app[CATALOGS_KEY].t(negotiate(request), key, **params)


def render_page(
    request: web.Request,
    *,
    title: str,
    body: Html,
    page: str,
    scripts: Sequence[str] = (),
    styles: Sequence[str] | None = None,
    data: Any = None,
    meta: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """Return a full HTML page; ``scripts``/``styles`` are paths under the static prefix."""
    styles = request.app[STYLES_KEY] if styles is None else styles
    lang = negotiate(request)
    static = request.app[STATIC_KEY]
    catalogs = request.app[CATALOGS_KEY]
    head = join(
        el("meta", {"charset": "utf-8"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        *(el("meta", {"name": name, "content": value}) for name, value in (meta or {}).items()),
        el("title", None, title),
        el("link", {"rel": "icon", "href": "data:,"}),  # no favicon request to answer 404
        *(el("link", {"rel": "stylesheet", "href": f"{static}/{s}"}) for s in styles),
        *(el("script", {"type": "module", "src": f"{static}/{s}"}) for s in scripts),
    )
    document = join(
        Html("<!doctype html>"),
        el("html", {"lang": HTML_LANG[lang]},
           el("head", None, head),
           el("body", {"data-page": page, "data-lang": lang, "data-langs": ",".join(LANGS),
                       "data-static": static},
              el("a", {"class": "skip", "href": "#main"}, catalogs.t(lang, "common.skip")),
              body,
              json_script("i18n-catalog", catalogs.catalog(lang)),
              json_script("page-data", data))),
    )
    return web.Response(text=document, status=status, content_type="text/html",
                        charset="utf-8")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """Return the friendly page shown instead of any error: what happened, where to go."""
    heading = t(request, f"error.{status}") if status in (400, 401, 403, 404, 405, 409, 413,
                                                            429, 503) else t(request, "error.500")
    body = el("main", {"id": "main", "class": "error-page"},
              el("h1", None, heading),
              el("p", {"class": "message"}, message),
              el("p", None, el("a", {"href": request.app[HOME_KEY]}, t(request, "error.back"))))
    return render_page(request, title=heading, body=body, page="error", status=status)
