"""The daemon as store IT runs it: `storeedge run`, `scan`, signals, restarts, safe mode."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.seed import gtin13
from tests.helpers import MEMBER_CODE, MILK, ROOT, WATER, Daemon, write_config


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(write_config(tmp_path), tmp_path / "state").start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.signal(signal.SIGTERM)


def test_scan_command_reaches_the_lane_and_reports(daemon: Daemon) -> None:
    result = daemon.cli("scan", WATER, "--lane", "1")
    assert result.returncode == 0, result.stderr
    assert "added 农夫山泉 550ml" in result.stdout
    assert "total ¥2.00" in result.stdout

    result = daemon.cli("scan", MEMBER_CODE, "--lane", "1")
    assert result.returncode == 0 and "member 张伟" in result.stdout

    # At a kiosk an unknown code calls an attendant (a staffed lane only reports it).
    unknown = gtin13("690999999999")
    result = daemon.cli("scan", unknown, "--lane", "1")
    assert result.returncode == 1 and "This item is not recognised" in result.stdout

    lane = daemon.get("/api/lanes/1")
    assert [ln["name"] for ln in lane["lines"]] == ["农夫山泉 550ml"]
    assert lane["member"]["name"] == "张伟"


def test_cash_sale_through_the_api(daemon: Daemon) -> None:
    daemon.cli("scan", MILK, "--lane", "1")
    status, body = daemon.post("/api/lanes/1/cash", {"tendered_fen": 10000})
    assert status == 200 and body["change_fen"] == 10000 - 6500 and body["receipt_no"] == 1
    status, body = daemon.post("/api/lanes/1/cash", {"tendered_fen": 10000})
    assert status == 409 and "empty" in body["error"]
    status, body = daemon.post("/api/lanes/1/cash", {"tendered_fen": "lots"})
    assert status == 400


def test_sigterm_stops_cleanly(daemon: Daemon) -> None:
    assert daemon.signal(signal.SIGTERM) == 0
    log = daemon.output()
    assert "Stopping on signal" in log
    assert "Traceback" not in log
    assert not (daemon.state_dir / "run" / "s1.sock").exists()


def test_sigkill_mid_cart_then_restart_restores_the_cart(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = Daemon(config, tmp_path / "state").start()
    first.cli("scan", WATER, "--lane", "1")
    first.cli("scan", MILK, "--lane", "1")
    first.cli("scan", MEMBER_CODE, "--lane", "1")
    before = first.get("/api/lanes/1")
    assert first.signal(signal.SIGKILL) == -signal.SIGKILL

    second = Daemon(config, tmp_path / "state").start()
    try:
        after = second.get("/api/lanes/1")
        assert after["cart_id"] == before["cart_id"]
        assert [ln["name"] for ln in after["lines"]] == ["农夫山泉 550ml", "伊利纯牛奶 250ml×12"]
        assert after["member"]["name"] == "张伟"
        assert after["total_fen"] == before["total_fen"]
    finally:
        second.signal(signal.SIGTERM)


def test_malformed_config_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra='\n[http2]\nport = 1\n')
    result = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert str(config) in result.stderr and "http2" in result.stderr
    assert "Traceback" not in result.stderr


def test_damaged_database_starts_in_safe_mode_and_says_why(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "state" / "storeedge.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\x00garbage, not a database" * 500)
    daemon = Daemon(config, tmp_path / "state").start()
    try:
        status = daemon.get("/api/status")
        assert status["safe_mode"] is True and "not a database" in status["safe_mode_reason"]
        result = daemon.cli("scan", WATER, "--lane", "1")
        assert result.returncode == 1 and "safe mode" in result.stdout
        status_code, body = daemon.post("/api/lanes/1/cash", {"tendered_fen": 100})
        assert status_code == 503 and "safe mode" in body["error"]
        import urllib.request  # noqa: PLC0415
        with urllib.request.urlopen(daemon.url + "/", timeout=10) as page:
            assert "SAFE MODE" in page.read().decode()
    finally:
        daemon.signal(signal.SIGTERM)
    assert "SAFE MODE" in daemon.output()


def test_scan_without_a_daemon_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "scan", WATER, "--lane", "1", "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Is the daemon running" in result.stderr


def test_healthz_and_metrics(daemon: Daemon) -> None:
    health = daemon.get("/healthz")
    assert health["ok"] is True and health["store"] == "writable"
    daemon.cli("scan", WATER, "--lane", "1")
    daemon.post("/api/lanes/1/cash", {"tendered_fen": 500})
    daemon.cli("scan", gtin13("690999999999"), "--lane", "1")
    import urllib.request  # noqa: PLC0415
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'storeedge_sales_total{lane="1"} 1.0' in text
    assert 'storeedge_sales_fen_total{lane="1"} 200.0' in text
    assert 'storeedge_scans_total{device="sim-1",outcome="item_added"} 1.0' in text
    assert 'storeedge_scans_total{device="sim-1",outcome="item_not_found"} 1.0' in text
    # Both scans timed from their bytes to the cart durable; none took a second.
    assert 'storeedge_scan_seconds_count{lane="1"} 2.0' in text
    assert 'storeedge_scan_seconds_bucket{lane="1",le="1.0"} 2.0' in text
    assert 'storeedge_device_state{device="sim-1",state="idle"} 1.0' in text


def test_healthz_fails_while_the_database_is_locked(tmp_path: Path) -> None:
    config = write_config(tmp_path, busy_timeout_ms=100)
    daemon = Daemon(config, tmp_path / "state").start()
    import sqlite3  # noqa: PLC0415
    other = sqlite3.connect(tmp_path / "state" / "storeedge.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        status, body = daemon.request("GET", "/healthz")
        assert status == 503
        assert body["ok"] is False and "locked" in body["store"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert daemon.get("/healthz")["ok"] is True
    daemon.signal(signal.SIGTERM)
