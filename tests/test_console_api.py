"""Every console endpoint, enumerated from the app itself, refuses what it must refuse.

The routes come from the console app the daemon runs, so an endpoint added later is covered
without touching this file: anonymous, a role below the route's, a missing or wrong CSRF
token, a foreign Origin, and malformed bodies all get a 4xx, never a 2xx and never a 500.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from edge.app import EdgeApp
from edge.sessions import Sessions
from edge.users import ROLE_RANK, Role
from kiosk_ui.auth import ACCESS_KEY
from kiosk_ui.console.app import create_console_app
from kiosk_ui.console.context import ConsoleState
from kiosk_ui.console.dashboard import compute_dashboard
from kiosk_ui.console.setup_code import SetupCode
from kiosk_ui.push import Feed
from tests.browser import FAST_HASHING, ConsoleClient, console_client, running_edge
from tests.helpers import write_config

PASSWORDS = {"admin": "admin password", "sup": "supervisor password", "cash": "cashier password"}
PARAMS = {"device": "sim-1", "sale": "no-such-sale", "name": "cash"}
Route = tuple[str, str, Role | None]


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    config = write_config(tmp_path, console=FAST_HASHING)
    async with running_edge(config) as app:
        for name, role in (("admin", "it_admin"), ("sup", "supervisor"), ("cash", "cashier")):
            await app.users.create(name, role, PASSWORDS[name], actor="test")
        yield app


def build_console_app(edge: EdgeApp, tmp_path: Path) -> web.Application:
    """Return a console app exactly as the daemon builds it (not yet serving)."""
    state = ConsoleState(edge=edge, config=edge.config.console, users=edge.users,
                         sessions=Sessions(edge.store, edge.config.console.sessions),
                         setup=SetupCode(tmp_path),
                         dashboard=Feed("d", functools.partial(compute_dashboard, edge), 5))
    return create_console_app(state)


def console_routes(edge: EdgeApp, tmp_path: Path) -> list[Route]:
    """Return (method, path, least role) of every route of the app the daemon serves."""
    app = build_console_app(edge, tmp_path)
    table = app[ACCESS_KEY]
    routes: list[Route] = []
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        assert (route.method, canonical) in table, f"{route.method} {canonical} not in table"
        path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], canonical)
        if canonical.endswith("/static"):
            path += "/console/console.css"
        routes.append((route.method, path, table[(route.method, canonical)]))
    assert len(routes) == len(table), "the access table names a route that does not exist"
    return routes


def _body(method: str) -> Any:
    return {} if method == "POST" else None


@asynccontextmanager
async def signed_in(url: str, name: str) -> AsyncIterator[ConsoleClient]:
    async with console_client(url) as client:
        await client.login(name, PASSWORDS[name])
        yield client


async def test_every_route_is_declared_with_a_role(edge: EdgeApp, tmp_path: Path) -> None:
    routes = console_routes(edge, tmp_path)
    public = sorted(path for _, path, role in routes if role is None)
    assert public == ["/console", "/console/api/login", "/console/api/session",
                      "/console/api/setup", "/console/login", "/console/setup",
                      "/console/static/console/console.css",
                      "/console/static/console/console.css"]  # GET and HEAD
    assert len(routes) > 40


async def test_anonymous_requests_are_refused(edge: EdgeApp, tmp_path: Path) -> None:
    assert edge.console_url is not None
    async with console_client(edge.console_url) as anonymous:
        for method, path, role in console_routes(edge, tmp_path):
            if role is None:
                continue
            api = "/api/" in path or "/ws/" in path
            status, body = await anonymous.request(
                method, path, json=_body(method),
                headers={"Accept": "application/json" if api else "text/html"})
            if api:
                assert status == 401 and body["code"] == "signin", (method, path, status, body)
            else:  # a page sends the browser to sign in, and back afterwards
                assert status == 303, (path, status)
                location = anonymous.last_headers["Location"]
                assert location.startswith("/console/login?next=/console/"), location


async def test_roles_below_the_route_are_refused(edge: EdgeApp, tmp_path: Path) -> None:
    assert edge.console_url is not None
    routes = console_routes(edge, tmp_path)
    checked = 0
    for name, role in (("cash", Role.CASHIER), ("sup", Role.SUPERVISOR)):
        async with signed_in(edge.console_url, name) as client:
            for method, path, need in routes:
                if need is None or ROLE_RANK[role] >= ROLE_RANK[need]:
                    continue
                status, body = await client.request(method, path, json=_body(method))
                checked += 1
                if "/api/" in path or "/ws/" in path:
                    assert status == 403 and body["code"] == "role", (name, path, status, body)
                else:
                    assert status == 403, (name, path, status)
    assert checked > 30


async def test_state_changes_need_the_token_and_our_origin(edge: EdgeApp, tmp_path: Path) -> None:
    assert edge.console_url is not None
    posts = [(m, p, r) for m, p, r in console_routes(edge, tmp_path) if m == "POST"]
    async with signed_in(edge.console_url, "admin") as admin:
        token = admin.csrf
        for _, path, role in posts:
            status, body = await admin.request("POST", path, json={},
                                               headers={"Origin": "http://kiosk.example:8080"})
            assert status == 403 and body["code"] == "origin", (path, status, body)
            status, body = await admin.request("POST", path, json={}, origin=False,
                                               headers={"Referer": "http://evil.example/x"})
            assert status == 403 and body["code"] == "origin", (path, status, body)
            if role is None:
                # Sign-in and setup have no session yet: a cross-site form cannot post JSON.
                status, body = await admin.request(
                    "POST", path, data="name=admin&password=x",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert status == 415, (path, status, body)
                continue
            status, body = await admin.request("POST", path, json={}, csrf=False)
            assert status == 403 and body["code"] == "csrf", (path, status, body)
            admin.csrf = "x" * len(token or "")
            status, body = await admin.request("POST", path, json={})
            assert status == 403 and body["code"] == "csrf", (path, status, body)
            admin.csrf = token
        # The session still works after all that: nothing above changed state.
        assert (await admin.get("/console/api/session"))["user"]["name"] == "admin"


MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("not JSON", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("not UTF-8", {"data": b'{"name": "\xff\xfe"}', "headers": {"Content-Type":
                                                                  "application/json"}}),
    ("a list", {"json": []}),
    ("a string", {"json": "admin"}),
    ("a number", {"json": 7}),
    ("null", {"json": None, "data": b"null", "headers": {"Content-Type": "application/json"}}),
    ("unknown field", {"json": {"unexpected": True}}),
    ("wrong types", {"json": {"name": 1, "password": ["x"], "role": {}, "pin": 1234,
                              "disabled": "yes", "event_id": 5, "member_id": None,
                              "code": 7, "current": 8, "new": 9.5}}),
    ("deep nesting", {"data": b"[" * 5000 + b"]" * 5000,
                      "headers": {"Content-Type": "application/json"}}),
    ("oversize", {"data": b'{"name": "' + b"a" * 100_000 + b'"}',
                  "headers": {"Content-Type": "application/json"}}),
    ("form encoded", {"data": "name=a&password=b",
                      "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
]


async def test_malformed_bodies_get_a_4xx(edge: EdgeApp, tmp_path: Path) -> None:
    assert edge.console_url is not None
    posts = [p for m, p, _ in console_routes(edge, tmp_path) if m == "POST"]
    async with signed_in(edge.console_url, "admin") as admin:
        for path in posts:
            for label, kwargs in MALFORMED:
                status, body = await admin.request("POST", path, **kwargs)
                assert 400 <= status < 500, (path, label, status, body)
                assert "Traceback" not in str(body)
        gets = [p for m, p, _ in console_routes(edge, tmp_path)
                if m == "GET" and "/api/" in p and not p.endswith(".zip")]
        for path in gets:
            for query in ("?limit=-1", "?limit=abc", "?limit=1&limit=2", "?x=%00",
                          "?receipt=99999999999999999999", "?before=%ff%fe"):
                status, body = await admin.request("GET", path + query)
                assert status < 500, (path, query, status, body)
        # Still signed in and nothing was created or changed by any of it.
        users = (await admin.get("/console/api/users"))["users"]
        assert [u["name"] for u in users] == ["admin", "cash", "sup"]
        assert not any(u["disabled"] for u in users)


async def test_the_kiosk_site_serves_no_console_route(edge: EdgeApp, tmp_path: Path) -> None:
    assert edge.console_url is not None and edge.http_url is not None
    assert edge.console_url != edge.http_url
    async with signed_in(edge.console_url, "admin") as admin:
        kiosk = ConsoleClient(admin.session, edge.http_url)  # same cookie jar and token
        kiosk.csrf = admin.csrf
        for method, path, _ in console_routes(edge, tmp_path):
            status, answer = await kiosk.request(method, path, json=_body(method))
            assert status == 404, (method, path, status, answer)


async def test_pages_and_errors_carry_the_hardening_headers(edge: EdgeApp) -> None:
    assert edge.console_url is not None
    async with signed_in(edge.console_url, "admin") as admin:
        for path, status_wanted in (("/console/dashboard", 200), ("/console/api/dashboard", 200),
                                    ("/console/nowhere", 404)):
            status, body = await admin.request("GET", path, headers={"Accept": "text/html"})
            assert status == status_wanted
            headers = admin.last_headers
            assert "script-src 'self'" in headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Cache-Control"] == "no-store"
        assert "找不到页面" in body and "Traceback" not in body  # a friendly page, in zh-CN


async def test_a_route_added_outside_the_table_is_refused(edge: EdgeApp, tmp_path: Path) -> None:
    app = build_console_app(edge, tmp_path)

    async def unlisted(_request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app.router.add_get("/console/api/unlisted", unlisted)  # bypassing add_routes
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with signed_in(f"http://127.0.0.1:{port}", "admin") as admin:
            status, body = await admin.request("GET", "/console/api/unlisted")
            assert status == 403 and body["code"] == "not_in_table"
            assert (await admin.get("/console/api/session"))["user"]["name"] == "admin"
    finally:
        await runner.cleanup()
