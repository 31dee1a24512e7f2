"""Every kiosk-site endpoint, enumerated from the app itself, refuses what it must refuse.

The routes come from the app the daemon serves, so an endpoint added later is covered without
touching this file: at a staffed lane, an anonymous call, another lane's sign-in, a missing
CSRF token, a foreign Origin, a missing supervisor approval and malformed bodies all get a
4xx, never a 2xx and never a 500, and the lane's cart stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from edge.app import EdgeApp
from edge.scan_router import route
from kiosk_ui.site_access import SITE_TABLE_KEY, Access
from kiosk_ui.web import create_web_app
from tests.browser import FAST_HASHING, running_edge
from tests.helpers import MILK, WATER, write_config

THIRD_LANE = '\n[[lanes]]\nid = "3"\nkind = "staffed"\n'
SCREEN = ('\n[signage]\nclaim_url = "https://coupons.example.com/c?code={code}"\n'
          '[[screens]]\nzone = "A1"\nproducts = ["P001"]\n')
Route = tuple[str, str, Access]
# route -> a body that is right in every way but the supervisor's PIN
APPROVED: dict[str, dict[str, Any]] = {
    "/api/lanes/{lane}/lines/{line}/quantity": {"qty": 2},
    "/api/lanes/{lane}/lines/{line}/void": {},
    "/api/lanes/{lane}/lines/{line}/price": {"price_fen": 1},
    "/api/lanes/{lane}/void": {"reason": "test"},
    "/api/lanes/{lane}/refunds": {"sale_lane": "2", "receipt_no": 1, "refund_id": "f" * 32},
}
MALFORMED: list[tuple[str, Any, str]] = [  # (name, body, content type)
    ("not json", b"{not json", "application/json"),
    ("a list", b"[1, 2]", "application/json"),
    ("a string", b'"text"', "application/json"),
    ("form post", b"qty=2", "application/x-www-form-urlencoded"),
    ("too large", b'{"reason": "' + b"x" * 20000 + b'"}', "application/json"),
    ("unknown field", b'{"sneaky": 1}', "application/json"),
    ("wrong types", b'{"qty": "2", "price_fen": "1", "tendered_fen": "100", "float_fen": true,'
     b' "name": 5, "password": [], "code": {}, "supervisor_pin": 2468}', "application/json"),
    ("out of range", b'{"qty": 100000, "price_fen": -1, "tendered_fen": 0, "float_fen": -5,'
     b' "receipt_no": 0}', "application/json"),
    ("nul bytes", b'{"name": "a\\u0000b", "password": "p\\u0000", "code": "\\u0000",'
     b' "reason": "\\u0000"}', "application/json"),
    ("huge numbers", b'{"qty": 1e400, "tendered_fen": 99999999999999999999999}',
     "application/json"),
    ("deep nesting", b'{"lines": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    ("bad lines", b'{"sale_lane": "2", "receipt_no": 1, "refund_id": "ffffffffffffffff",'
     b' "lines": [{"line_no": "1"}]}', "application/json"),
]


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    config = write_config(tmp_path, console=FAST_HASHING, extra=THIRD_LANE + SCREEN)
    async with running_edge(config) as app:
        await app.users.create("li", "cashier", "cashier password", actor="test")
        await app.users.create("wang", "supervisor", "supervisor password", actor="test",
                               pin="2468")
        yield app


def kiosk_routes(edge: EdgeApp) -> list[Route]:
    """Return (method, path, access) of every route of the kiosk site the daemon serves."""
    app = create_web_app(edge)
    table = app[SITE_TABLE_KEY]
    routes: list[Route] = []
    for entry in app.router.routes():
        canonical = entry.resource.canonical if entry.resource else ""
        assert (entry.method, canonical) in table, f"{entry.method} {canonical} not in table"
        routes.append((entry.method, canonical, table[(entry.method, canonical)]))
    assert len(routes) == len(table), "the table names a route that does not exist"
    return routes


class Client:
    """A browser at one lane: its cookies, its CSRF token, our origin."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url, self.csrf = session, url, ""

    async def signin(self, lane: str = "2") -> None:
        status, body = await self.call("POST", f"/api/lanes/{lane}/signin",
                                       json={"name": "li", "password": "cashier password"})
        assert status == 200, body
        self.csrf = body["csrf"]

    async def call(self, method: str, path: str, *, json: Any = None, data: Any = None,
                   content_type: str | None = None, csrf: bool = True, origin: str | None = None,
                   ) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "Origin": origin or self.url}
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        if content_type:
            headers["Content-Type"] = content_type
        async with self.session.request(method, self.url + path, json=json, data=data,
                                        headers=headers, allow_redirects=False) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


@pytest.fixture
async def client(edge: EdgeApp) -> AsyncIterator[Client]:
    assert edge.http_url is not None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Client(session, edge.http_url)


async def prepared(edge: EdgeApp, client: Client) -> str:
    """Sign in at lane 2, open a shift, scan two items; return the first line's id."""
    if not client.csrf:
        await client.signin()
    if edge.cashier.shifts.open_shift("2") is None:
        await edge.cashier.shifts.open("2", 0, actor="li")
    for code in (MILK, WATER):
        await edge.lanes["2"].handle_scan(route(code, edge.config.scan))
    return edge.lanes["2"].cart.lines[0].line_id


def concrete(path: str, line: str = "nosuchline") -> str:
    values = {"lane": "2", "line": line, "zone": "A1", "call": "nosuchcall", "code": "NOSUCH",
              "scan": "nosuchscan"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def guarded(edge: EdgeApp) -> list[Route]:
    return [r for r in kiosk_routes(edge) if r[2] is not Access.OPEN]


async def test_every_route_is_declared_and_the_guarded_ones_are_the_lanes_money(
        edge: EdgeApp) -> None:
    routes = kiosk_routes(edge)
    paths = {(m, p) for m, p, a in routes if a is not Access.OPEN}
    assert ("POST", "/api/lanes/{lane}/cash") in paths
    assert ("POST", "/api/lanes/{lane}/refunds") in paths
    assert ("POST", "/api/lanes/{lane}/signin") not in paths   # anyone may try to sign in
    assert all(p.startswith("/api/lanes/{lane}/") for _, p in paths)
    assert len(paths) >= 17


async def test_anonymous_and_other_lanes_sign_ins_are_refused(edge: EdgeApp,
                                                              client: Client) -> None:
    line = await prepared(edge, client)
    async with aiohttp.ClientSession() as anonymous_session:
        anonymous = Client(anonymous_session, client.url)
        for method, path, _ in guarded(edge):
            status, body = await anonymous.call(method, concrete(path, line),
                                                json={} if method == "POST" else None)
            assert status == 401 and body["code"] == "signin", (method, path, status, body)
            assert body["signin"] == "/lane/2"
    # lane 2's cookie and token do nothing at lane 3
    cart = edge.lanes["2"].cart
    for method, path, _ in guarded(edge):
        status, _body = await client.call(method, concrete(path, line).replace(
            "/lanes/2/", "/lanes/3/"), json={} if method == "POST" else None)
        assert status == 401, (method, path, status)
    assert edge.lanes["2"].cart == cart


async def test_csrf_and_origin_are_checked_on_every_change(edge: EdgeApp,
                                                          client: Client) -> None:
    line = await prepared(edge, client)
    cart = edge.lanes["2"].cart
    for method, path, _ in guarded(edge):
        if method != "POST":
            continue
        status, body = await client.call(method, concrete(path, line), json={}, csrf=False)
        assert status == 403 and body["code"] == "csrf", (path, status, body)
        status, body = await client.call(method, concrete(path, line), json={},
                                         origin="http://evil.example")
        assert status == 403 and body["code"] == "origin", (path, status, body)
    # Sign-in itself has no token yet: the origin rule is what guards it.
    status, body = await client.call("POST", "/api/lanes/2/signin", json={
        "name": "li", "password": "cashier password"}, origin="http://evil.example")
    assert (status, body["code"]) == (403, "origin")
    assert edge.lanes["2"].cart == cart


async def test_money_changes_need_the_supervisors_pin(edge: EdgeApp, client: Client) -> None:
    await prepared(edge, client)
    await edge.lanes["2"].pay_cash(100000)    # receipt 1, for the refund
    line = await prepared(edge, client)
    status, answer = await client.call("POST", concrete(
        "/api/lanes/{lane}/lines/{line}/quantity", line), json={"qty": 2,
                                                                 "supervisor_pin": "2468"})
    assert status == 200 and answer["result"] == "quantity_changed"
    cart = edge.lanes["2"].cart
    for i, (path, body) in enumerate(APPROVED.items()):
        status, answer = await client.call("POST", concrete(path, line), json=body)
        assert (status, answer["code"]) == (403, "approval_required"), (path, answer)
        status, answer = await client.call("POST", concrete(path, line),
                                           json={**body, "supervisor_pin": "1111"})
        # The fifth wrong PIN at a lane locks its approvals (the answer says how long).
        expected = (403, "approval_refused") if i < 4 else (429, "locked")
        assert (status, answer["code"]) == expected, (path, answer)
    status, answer = await client.call("POST", concrete(
        "/api/lanes/{lane}/lines/{line}/quantity", line), json={"qty": 3,
                                                                 "supervisor_pin": "2468"})
    assert (status, answer["code"]) == (429, "locked")
    assert edge.lanes["2"].cart == cart


async def test_malformed_bodies_and_queries_get_4xx_never_500(edge: EdgeApp,
                                                              client: Client) -> None:
    line = await prepared(edge, client)
    cart = edge.lanes["2"].cart
    checked = 0
    for method, path, _ in kiosk_routes(edge):
        if method != "POST":
            continue
        for name, body, content_type in MALFORMED:
            status, answer = await client.call(method, concrete(path, line), data=body,
                                               content_type=content_type)
            assert 400 <= status < 500, (path, name, status, answer)
            checked += 1
    for query in ("?receipt_no=abc&sale_lane=2", "?receipt_no=1", "?receipt_no=1&sale_lane=2"
                  "&x=1", "?receipt_no=1&receipt_no=2&sale_lane=2", "?sale_lane=%00&receipt_no=1",
                  "?receipt_no=99999999999999999999&sale_lane=2"):
        status, _ = await client.call("GET", "/api/lanes/2/refunds/lookup" + query)
        assert 400 <= status < 500, (query, status)
    for path in ("/api/lanes/2/lines/" + "x" * 40 + "/void", "/api/lanes/2/lines/%3Cb%3E/void",
                 "/api/lanes/9/cash", "/api/screens/nope/call", "/api/guides/..%2F/ack"):
        status, _ = await client.call("POST", path, json={"supervisor_pin": "2468"})
        assert 400 <= status < 500, (path, status)
    assert checked > 200
    assert edge.lanes["2"].cart == cart


async def test_cashier_routes_on_a_kiosk_lane_and_sign_in_limits(edge: EdgeApp,
                                                                 client: Client) -> None:
    status, body = await client.call("POST", "/api/lanes/1/signin",
                                     json={"name": "li", "password": "cashier password"})
    assert (status, body["code"]) == (409, "not_staffed")
    status, body = await client.call("POST", "/api/lanes/1/keyed", json={"code": WATER})
    assert (status, body["code"]) == (409, "not_staffed")
    for _ in range(4):
        status, body = await client.call("POST", "/api/lanes/2/signin",
                                         json={"name": "li", "password": "wrong password"})
        assert (status, body["code"]) == (401, "bad_credentials")
    status, body = await client.call("POST", "/api/lanes/2/signin",
                                     json={"name": "li", "password": "wrong password"})
    assert (status, body["code"]) == (429, "locked")


async def test_a_route_added_by_hand_is_refused(edge: EdgeApp) -> None:
    app = create_web_app(edge)

    async def sneaky(_request: web.Request) -> web.Response:
        return web.json_response({"money": "out"})

    app.router.add_post("/api/lanes/{lane}/sneaky", sneaky)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{port}/api/lanes/2/sneaky", json={}) as response:
            assert response.status == 403
            assert (await response.json())["code"] == "not_in_table"
    finally:
        await runner.cleanup()


async def test_a_scans_outcome_stays_readable_after_later_events(
        edge: EdgeApp, client: Client) -> None:
    """`storeedge scan` asks for its scan's outcome; a receipt or a call that follows at once
    must not hide it (the lane's last event is then another one)."""
    lane = edge.lanes["1"]
    await lane.handle_scan(route(MILK, edge.config.scan), scan_id="s-milk")
    await lane.call_attendant("help")             # an event of no scan follows at once
    status, state = await client.call("GET", "/api/lanes/1/scans/s-milk")
    assert status == 200
    assert (state["last_event"]["code"], state["last_event"]["scan_id"]) == ("item_added",
                                                                             "s-milk")
    assert state["lines"][0]["name"] == lane.cart.lines[0].name
    assert lane.snapshot()["last_event"]["code"] == "intervention_raised"
    status, _ = await client.call("GET", "/api/lanes/1/scans/s-unknown")
    assert status == 404
