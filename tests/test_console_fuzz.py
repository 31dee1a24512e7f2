"""Hypothesis against the running console: any body, any query, never a 500.

Bodies are JSON built from the console's own field names and plausible values (so the
schema checks and the handlers behind them are reached, not only the JSON parser), plus raw
bytes and other content types. The daemon is a real `storeedge run`; the admin signs in once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_ui.console.app import console_routes
from tests.browser import FAST_HASHING, console_url
from tests.fuzz_http import Client, inputs
from tests.helpers import ROOT, Daemon, write_config

FIELDS = ["name", "password", "role", "pin", "disabled", "event_id", "member_id", "code",
          "current", "new", "receipt", "lane", "before", "limit", "target", "lines", "member",
          "sale_id", "printed", "badge_id", "guide", "from", "to"]
WORDS = ["admin", "fuzzed", "cashier", "supervisor", "it_admin", "1234", "12345678",
         "T01:lane-pc-1:1", "M0001", "sim-1", "", " ", "x" * 300, "<script>", "%00", "\u0000"]
# Every endpoint of the console's route table, its path parameters filled in; the sockets
# are not request/response endpoints, and logging out would only end the fuzzer's session.
PARAMS = {"device": "sim-1", "sale": "x", "name": "fuzzed"}
SKIPPED = {("POST", "/console/api/logout")}


def _endpoints(method: str) -> list[str]:
    paths = [re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], route.path)
             for route in console_routes() if route.method == method]
    return [p for p in paths if "/ws/" not in p and (method, p) not in SKIPPED]


POSTS = _endpoints("POST")
GETS = [p for p in _endpoints("GET") if p.startswith("/console/api/")]

FUZZ = inputs(FIELDS, WORDS)


class Signed(Client):
    """The console as its pages call it, signed in as the IT admin."""

    def login(self) -> None:
        status, body = self.request("POST", "/console/api/login", json.dumps(
            {"name": "admin", "password": "admin password"}).encode())
        assert status == 200, (status, body)
        self.csrf = body["csrf"]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = write_config(tmp, console=FAST_HASHING)
    daemon = Daemon(config, tmp / "state").start()
    try:
        for name, role in (("admin", "it_admin"), ("fuzzed", "supervisor")):
            subprocess.run(
                [sys.executable, "-m", "edge.cli", "user", "add", name, "--role", role,
                 "--password-stdin", "--config", str(config)],
                input=f"{name} password\n", cwd=ROOT, capture_output=True, text=True,
                timeout=60, check=True)
        url = urlsplit(console_url(tmp / "state"))
        signed = Signed(url.hostname or "127.0.0.1", url.port or 0, "storeedge_console")
        signed.login()
        yield signed
    finally:
        daemon.signal(signal.SIGTERM)
    assert "Traceback" not in daemon.output()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(POSTS), body=FUZZ.bodies, content_type=FUZZ.content_types)
def test_any_body_gets_an_answer_not_a_crash(console: Signed, path: str, body: bytes,
                                             content_type: str) -> None:
    status, answer = console.request("POST", path, body, content_type)
    if status == 401:  # a body that happened to end the session: sign in again
        console.login()
        status, answer = console.request("POST", path, body, content_type)
    assert status < 500, (path, body, status, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer.get("error"), answer


@settings(max_examples=80, deadline=None)
@given(path=st.sampled_from(GETS), query=FUZZ.queries)
def test_any_query_gets_an_answer_not_a_crash(console: Signed, path: str,
                                              query: list[tuple[str, str]]) -> None:
    status, answer = console.request("GET", f"{path}?{urlencode(query)}" if query else path)
    assert status < 500, (path, query, status, answer)
