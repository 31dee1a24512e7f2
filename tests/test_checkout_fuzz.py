"""Hypothesis against a running daemon's exit station and a locked kiosk: whatever follows
``EXIT.`` or ``BADGE:``, the answer is a clear refusal in both languages, never a crash, and a
locked lane stays locked."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.sim_scanner import send_scan
from tests.checkout_support import config_path
from tests.helpers import Daemon

EXIT_SCANNER = """
[[devices]]
id = "sim-9"
driver = "sim_scanner"
lane = "9"
[devices.options]
socket = "{run_dir}/s9.sock"
"""
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
tails = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=B64 + ".", max_size=260),
    st.builds(lambda a, b: f"{a}.{b}", st.text(alphabet=B64, max_size=180),
              st.text(alphabet=B64, min_size=80, max_size=90)),
).filter(lambda s: "\n" not in s and "\r" not in s)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    path = config_path(tmp_path, exit_lane=True, extra=EXIT_SCANNER)
    d = Daemon(path, tmp_path / "state").start()
    status, _ = d.post("/api/lanes/1/attendant", {"reason_text": "fuzz"})
    assert status == 200
    yield d
    assert d.signal(signal.SIGTERM) == 0
    assert "Traceback" not in d.output()


def scan(daemon: Daemon, socket: str, text: str, lane: str) -> dict[str, Any] | str:
    """Send a scan; return the lane's event for it, or the scanner's own rejection."""
    path = daemon.state_dir / "run" / socket
    answer = asyncio.run(asyncio.wait_for(send_scan(path, text), 10))
    if not answer.startswith("OK "):
        assert answer.startswith("REJECTED "), answer
        return answer
    scan_id = answer.split(" ", 1)[1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = daemon.get(f"/api/lanes/{lane}")["last_event"] or {}
        if event.get("scan_id") == scan_id:
            return dict(event)
        time.sleep(0.02)
    raise AssertionError(f"no answer to {text[:40]!r}")


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(tail=tails)
def test_any_exit_token_is_refused_clearly(daemon: Daemon, tail: str) -> None:
    event = scan(daemon, "s9.sock", "EXIT." + tail, "9")
    if isinstance(event, str):
        return                                  # the scanner itself refused the bytes
    assert not event["ok"], event
    assert event["code"] in ("exit_refused", "scan_rejected"), event
    if event["code"] == "exit_refused":
        data = event["data"]
        assert data["reason"] in ("malformed", "unknown_key", "bad_signature", "not_exit_code")
        assert data["zh"] and data["en"] and "item_count" not in data
    exit_state = daemon.get("/api/lanes/9")["exit"]
    assert exit_state["state"] in ("refused", "idle")


@FUZZ
@given(tail=tails)
def test_any_badge_is_refused_clearly_and_the_lock_holds(daemon: Daemon, tail: str) -> None:
    event = scan(daemon, "s1.sock", "BADGE:" + tail, "1")
    if isinstance(event, str):
        return
    assert not event["ok"], event
    assert event["code"] in ("attendant_refused", "scan_rejected"), event
    if event["code"] == "attendant_refused":
        assert event["data"]["reason"] in ("unknown_badge", "locked")
        assert event["data"]["zh"] and event["data"]["en"]
    assert daemon.get("/api/lanes/1")["locked"]
