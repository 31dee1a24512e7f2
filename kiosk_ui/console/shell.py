"""The console's pages: one shell per page (layout, navigation for the user's role, data),
rendered by the page's ES module. Login and first-run setup are shells of their own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from edge.users import Role, role_allows

from ..auth import current_session
from ..html import Html, el, join
from ..pages import render_page, t
from .context import console

PREFIX = "/console"


@dataclass(frozen=True, slots=True)
class PageDef:
    slug: str
    title_key: str
    role: Role


PAGES = (
    PageDef("dashboard", "nav.dashboard", Role.CASHIER),
    PageDef("devices", "nav.devices", Role.SUPERVISOR),
    PageDef("transactions", "nav.transactions", Role.SUPERVISOR),
    PageDef("guides", "nav.guides", Role.SUPERVISOR),
    PageDef("checkout", "nav.checkout", Role.SUPERVISOR),
    PageDef("dead-letters", "nav.dead_letters", Role.IT_ADMIN),
    PageDef("face-consents", "nav.face_consents", Role.IT_ADMIN),
    PageDef("users", "nav.users", Role.IT_ADMIN),
    PageDef("config", "nav.config", Role.IT_ADMIN),
    PageDef("audit", "nav.audit", Role.IT_ADMIN),
    PageDef("logs", "nav.logs", Role.IT_ADMIN),
    PageDef("diagnostics", "nav.diagnostics", Role.IT_ADMIN),
    PageDef("account", "nav.account", Role.CASHIER),
)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _shell(request: web.Request, page: str, title: str, main: Html, *,
           header: Html | None = None, meta: dict[str, str] | None = None,
           data: dict[str, object] | None = None) -> web.Response:
    store = console(request).edge.config.store
    return render_page(
        request, title=f"{title} — StoreEdge {t(request, 'console.name')} · {store.name}",
        page=page, scripts=("console/main.js",),
        body=join(header, el("div", {"id": "banner", "role": "alert", "hidden": True}), main),
        meta=meta, data={"store": {"id": store.id, "name": store.name,
                                   "timezone": store.timezone}, **(data or {})})


def _main(title_key: str, title: str) -> Html:
    return el("main", {"id": "main", "tabindex": "-1"},
              el("h1", {"data-i18n": title_key}, title),
              el("div", {"id": "app"}))  # live regions are the pages' status lines


async def setup_needed(request: web.Request) -> bool:
    """Return whether first-run setup is still open (a user made from the shell closes it)."""
    state = console(request)
    if state.setup.active and await state.users.count() > 0:
        state.setup.retire()
    return state.setup.active


async def root(request: web.Request) -> web.Response:
    if await setup_needed(request):
        return _redirect(f"{PREFIX}/setup")
    return _redirect(f"{PREFIX}/dashboard" if current_session(request) else f"{PREFIX}/login")


def _safe_next(value: str) -> str:
    # Only a path on this console: never an open redirect to another site.
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith(f"{PREFIX}/") or "\\" in value:
        return f"{PREFIX}/dashboard"
    return value


async def login_page(request: web.Request) -> web.Response:
    if await setup_needed(request):
        return _redirect(f"{PREFIX}/setup")
    return _shell(request, "login", t(request, "login.title"),
                  _main("login.title", t(request, "login.title")), header=_public_header(request),
                  data={"next": _safe_next(request.query.get("next", ""))})


async def setup_page(request: web.Request) -> web.Response:
    if not await setup_needed(request):
        return _redirect(f"{PREFIX}/login")
    return _shell(request, "setup", t(request, "setup.title"),
                  _main("setup.title", t(request, "setup.title")), header=_public_header(request))


def _public_header(request: web.Request) -> Html:
    return el("header", {"class": "top"},
              el("span", {"class": "brand", "data-i18n": "console.brand"},
                 t(request, "console.brand")),
              el("nav", {"aria-label": t(request, "nav.label")}),
              el("button", {"type": "button", "id": "lang-toggle", "class": "quiet"},
                 t(request, "common.other_lang")))


def _header(request: web.Request, current: str) -> Html:
    session = current_session(request)
    assert session is not None
    user = session.user
    links = [el("a", {"href": f"{PREFIX}/{p.slug}", "data-i18n": p.title_key,
                      "aria-current": "page" if p.slug == current else None},
                t(request, p.title_key))
             for p in PAGES if role_allows(user.role, p.role)]
    return el("header", {"class": "top"},
              el("span", {"class": "brand", "data-i18n": "console.brand"},
                 t(request, "console.brand")),
              el("nav", {"aria-label": t(request, "nav.label")}, *links),
              el("span", {"class": "who"}, user.name, " ",
                 el("span", {"class": "role", "data-i18n": f"role.{user.role}"},
                    t(request, f"role.{user.role}"))),
              el("button", {"type": "button", "id": "lang-toggle", "class": "quiet"},
                 t(request, "common.other_lang")),
              el("button", {"type": "button", "id": "logout", "class": "quiet",
                            "data-i18n": "common.logout"}, t(request, "common.logout")))


def page_handler(page: PageDef) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Return the handler of one console page (its role is checked by the route table)."""

    async def handler(request: web.Request) -> web.Response:
        state = console(request)
        session = current_session(request)
        assert session is not None
        title = t(request, page.title_key)
        return _shell(
            request, page.slug, title, _main(page.title_key, title),
            header=_header(request, page.slug), meta={"csrf-token": session.csrf_token},
            data={"user": session.user.as_dict(),
                  "push_interval_s": state.config.push_interval_s})

    handler.__name__ = f"page_{page.slug.replace('-', '_')}"
    return handler
