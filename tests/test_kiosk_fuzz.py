"""Hypothesis against the running kiosk site: every route of ``kiosk_routes()``, any body, any
query, any lane in the path, never a 500 and never a traceback.

The shopper pages' endpoints (a kiosk lane's, open to its page), the cashier's (signed in at
the staffed lane, with its CSRF token) and the aisle screens' and guides' are all in the table,
so a route added later is fuzzed without anyone remembering to. Bodies are JSON built from
the site's field names and plausible values, so handlers are reached and not only the JSON
parser, plus raw bytes and other content types. The daemon is a real ``storeedge run``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_ui.site_access import cookie_name
from kiosk_ui.web import kiosk_routes
from tests.fuzz_http import Client, inputs
from tests.helpers import CASHIER, CASHIER_PASSWORD, ROOT, Daemon, write_config

# The site's own body fields (its schemas), so handlers are reached and not only the checks.
FIELDS = ["accepted", "amount_fen", "badge_id", "code", "consent_version", "counted_fen",
          "digits", "float_fen", "kind", "lane", "line_no", "lines", "member", "member_id",
          "name", "next_float_fen", "password", "phone", "pin", "points", "price_fen",
          "printed", "qty", "reason_text", "receipt", "receipt_no", "refund_id", "sale_id",
          "scope", "supervisor_pin", "suspended_id", "tendered_fen", "version"]
WORDS = ["1", "2", "9", "cashier1", "cashier password", "M0001", "13800000001", "0001",
         "1234", "6901234567892", "", " ", "x" * 300, "<script>", "%00", "\u0000", "-1",
         "99999999999999999999"]
# Path parameters: mostly the real lanes (kiosk 1, staffed 2), sometimes one that does not
# exist or junk.
LANES = ["1", "1", "1", "2", "2", "2", "9", "%00", "..", "x" * 60]
PARAMS = {"line": ["x", "1", "-1"], "scan": ["x", "0" * 32], "zone": ["entrance", "x"],
          "call": ["x", "1"], "code": ["x", "C0001"]}
# Signing out only ends the fuzzer's own session; the sockets are not request/answer routes.
SKIPPED = {("POST", "/api/lanes/{lane}/signout")}


def _endpoints(method: str) -> list[str]:
    return [route.path for route in kiosk_routes() if route.method == method
            and "/ws/" not in route.path and (method, route.path) not in SKIPPED]


POSTS = _endpoints("POST")
GETS = [p for p in _endpoints("GET") if p.startswith("/api/")]

FUZZ = inputs(FIELDS, WORDS)


@st.composite
def paths(draw: st.DrawFn, templates: list[str]) -> str:
    template = draw(st.sampled_from(templates))

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return draw(st.sampled_from(LANES if name == "lane" else PARAMS[name]))
    return re.sub(r"\{(\w+)\}", fill, template)


class Site(Client):
    """The kiosk site as its pages call it: same origin, and at the staffed lane the signed-in
    cashier's cookie and CSRF token."""

    def sign_in(self) -> None:
        status, body = self.request("POST", "/api/lanes/2/signin", json.dumps(
            {"name": CASHIER, "password": CASHIER_PASSWORD}).encode())
        assert status == 200, (status, body)
        self.csrf = body["csrf"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp: Path = tmp_path_factory.mktemp("kiosk-fuzz")
    config = write_config(tmp)
    daemon = Daemon(config, tmp / "state").start()
    try:
        subprocess.run(
            [sys.executable, "-m", "edge.cli", "user", "add", CASHIER, "--role", "cashier",
             "--password-stdin", "--config", str(config)],
            input=f"{CASHIER_PASSWORD}\n", cwd=ROOT, capture_output=True, text=True,
            timeout=60, check=True)
        url = urlsplit(daemon.url)
        signed = Site(url.hostname or "127.0.0.1", url.port or 0, cookie_name("2"),
                      same_origin=True)
        signed.sign_in()
        yield signed
    finally:
        daemon.signal(signal.SIGTERM)
    assert "Traceback" not in daemon.output()


def _clean(path: str, status: int, answer: Any) -> None:
    assert status < 500, (path, status, answer)
    assert "Traceback" not in str(answer), (path, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer.get("error"), (path, status, answer)


def test_every_route_of_the_table_is_fuzzed() -> None:
    assert len(POSTS) >= 30 and len(GETS) >= 8, (len(POSTS), len(GETS))
    assert "/api/lanes/{lane}/tenders/points" in POSTS and "/api/lanes/{lane}/cash" in POSTS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=paths(POSTS), body=FUZZ.bodies, content_type=FUZZ.content_types)
def test_any_body_on_any_route_gets_an_answer_not_a_crash(site: Site, path: str, body: bytes,
                                                          content_type: str) -> None:
    status, answer = site.request("POST", path, body, content_type)
    if status == 401 and path.startswith("/api/lanes/2/"):   # the session ended: sign in again
        site.sign_in()
        status, answer = site.request("POST", path, body, content_type)
    _clean(path, status, answer)


@settings(max_examples=80, deadline=None)
@given(path=paths(GETS), query=FUZZ.queries)
def test_any_query_on_any_route_gets_an_answer_not_a_crash(site: Site, path: str,
                                                           query: list[tuple[str, str]]) -> None:
    target = f"{path}?{urlencode(query)}" if query else path
    status, answer = site.request("GET", target)
    if status >= 400 and not isinstance(answer, dict):     # an SVG route's refusal is JSON too
        raise AssertionError((target, status, answer))
    _clean(target, status, answer)
