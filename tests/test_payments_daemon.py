"""The daemon as a store runs it: pay by scan, and SIGKILL between micropay and query.

The daemon and the WeChat Pay simulator are separate processes; the simulator keeps its
order table across the daemon's death, so the test can tell whether money moved twice.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MILK, WATER, Daemon, write_config
from tests.payments_support import SimProcess, daemon_payments_toml, wait_for, wechat_code

TIMING = {"poll_interval_ms": 200, "reverse_interval_ms": 50, "request_timeout_ms": 3000}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    (tmp_path / "sim").mkdir()
    with SimProcess(tmp_path) as process:
        yield process


def start_daemon(tmp_path: Path, sim: SimProcess, **timing: int) -> Daemon:
    state = tmp_path / "state"
    extra = daemon_payments_toml(sim.url, state, **{**TIMING, **timing})
    return Daemon(write_config(tmp_path, extra=extra), state).start()


def db_rows(tmp_path: Path, sql: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{tmp_path / 'state' / 'storeedge.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def lane(daemon: Daemon) -> dict[str, Any]:
    state: dict[str, Any] = daemon.get("/api/lanes/1")
    return state


def test_a_payment_code_scanned_at_the_daemon_pays_and_the_scan_command_says_so(
    tmp_path: Path, sim: SimProcess
) -> None:
    daemon = start_daemon(tmp_path, sim, poll_limit=10)
    try:
        daemon.cli("scan", MILK, "--lane", "1", "--timeout", "30")
        result = daemon.cli("scan", wechat_code(1), "--lane", "1")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "payment_" in result.stdout
        state = wait_for(lambda: lane(daemon)["last_sale"], "the sale")
        assert state["total_fen"] == 6500 and lane(daemon)["payment"] is None
        assert daemon.get("/api/status")["payments"]["providers"] == ["wechat"]

        # The next shopper hesitates; the attendant cancels from the lane's API.
        daemon.cli("scan", WATER, "--lane", "1", "--timeout", "30")
        sim.script(wechat_code(9), outcome="userpaying", queries=10_000)
        daemon.cli("scan", wechat_code(9), "--lane", "1")
        wait_for(lambda: (lane(daemon)["payment"] or {}).get("state") == "waiting_user",
                 "the shopper's phone")
        status, body = daemon.post("/api/lanes/1/payment/cancel", {})
        assert status == 200 and body["result"] == "payment_cancelling"
        wait_for(lambda: lane(daemon)["payment"] is None, "the reversal")
        assert lane(daemon)["last_event"]["data"]["reason"] == "cancelled"
        assert [ln["name"] for ln in lane(daemon)["lines"]] == ["农夫山泉 550ml"]
        status, body = daemon.post("/api/lanes/1/payment/cancel", {})
        assert status == 409 and "no payment" in body["error"]
    finally:
        daemon.signal(signal.SIGTERM)
    paid, cancelled = sim.orders()
    assert paid["charged_fen"] == 6500 and paid["pay_calls"] == 1
    assert cancelled["state"] == "REVERSED" and cancelled["charged_fen"] == 0
    (tender,) = db_rows(tmp_path, "SELECT kind, reference FROM tenders")
    assert tuple(tender) == ("wechat", paid["transaction_id"])
    assert wechat_code(1) not in daemon.output()  # the log shows only the masked code


def kill_while_the_shopper_confirms(tmp_path: Path, sim: SimProcess, code: str,
                                    **timing: int) -> dict[str, Any]:
    """Fill the cart, scan ``code``, SIGKILL once micropay answered and a query was asked."""
    first = start_daemon(tmp_path, sim, **timing)
    first.cli("scan", MILK, "--lane", "1", "--timeout", "30")
    first.cli("scan", WATER, "--lane", "1", "--timeout", "30")
    before = lane(first)
    first.cli("scan", code, "--lane", "1", "--timeout", "30")
    wait_for(lambda: sim.orders() and sim.orders()[0]["query_calls"] >= 1, "a first query")
    assert lane(first)["payment"]["state"] == "waiting_user"
    assert first.signal(signal.SIGKILL) == -signal.SIGKILL
    (row,) = db_rows(tmp_path, "SELECT state FROM payments")
    assert row["state"] == "waiting_user"  # saved before the call that was interrupted
    return before


def test_sigkill_between_micropay_and_query_then_restart_settles_once(
    tmp_path: Path, sim: SimProcess
) -> None:
    code = wechat_code(2)
    sim.script(code, outcome="userpaying", queries=20)  # 4 s of "paying": room for the kill
    before = kill_while_the_shopper_confirms(tmp_path, sim, code, poll_limit=100)

    second = start_daemon(tmp_path, sim, poll_limit=100)
    try:
        state = wait_for(lambda: lane(second)["last_sale"], "the restarted daemon's sale")
        assert state["total_fen"] == before["total_fen"]
        assert lane(second)["payment"] is None and lane(second)["lines"] == []
    finally:
        second.signal(signal.SIGTERM)
    (order,) = sim.orders()
    assert order["pay_calls"] == 1 and order["state"] == "PAID"
    assert order["charged_fen"] == before["total_fen"] and order["refunded_fen"] == 0
    (sale,) = db_rows(tmp_path, "SELECT id, receipt_no, total_fen FROM sales")
    assert sale["receipt_no"] == 1 and sale["total_fen"] == before["total_fen"]
    (tender,) = db_rows(tmp_path, "SELECT reference FROM tenders")
    assert tender["reference"] == order["transaction_id"]
    events = db_rows(tmp_path, "SELECT count(*) FROM outbox WHERE type = 'sale.completed'")
    assert events[0][0] == 1
    (payment,) = db_rows(tmp_path, "SELECT state, sale_id FROM payments")
    assert tuple(payment) == ("paid", sale["id"])


def test_sigkill_while_paying_then_restart_reverses_when_it_stays_unknown(
    tmp_path: Path, sim: SimProcess
) -> None:
    code = wechat_code(3)
    sim.script(code, outcome="userpaying", queries=10_000)
    before = kill_while_the_shopper_confirms(tmp_path, sim, code, poll_limit=50)

    second = start_daemon(tmp_path, sim, poll_limit=3)
    try:
        wait_for(lambda: lane(second)["payment"] is None, "the payment to end")
        after = lane(second)
        assert after["cart_id"] == before["cart_id"] and after["lines"] == before["lines"]
        assert after["last_event"]["code"] == "payment_failed"
        # The cart is free again.
        result = second.cli("scan", WATER, "--lane", "1", "--timeout", "30")
        assert result.returncode == 0, result.stdout
    finally:
        second.signal(signal.SIGTERM)
    (order,) = sim.orders()
    assert order["pay_calls"] == 1 and order["state"] == "REVERSED"
    assert order["charged_fen"] == order["refunded_fen"]
    assert db_rows(tmp_path, "SELECT count(*) FROM sales")[0][0] == 0
    assert db_rows(tmp_path, "SELECT state FROM payments")[0][0] == "reversed"
