"""`storeedge demo`, exactly as `make demo` runs it: the banner, a scan, a wallet payment that
reaches the CRM, and Ctrl-C stopping everything cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT, WATER

DEMO_PORTS = (8080, 8081, 8090)   # kiosk site, console, the reference CRM


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _storeedge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_make_demo_prints_where_to_look_sells_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    taken = [p for p in DEMO_PORTS if _port_taken(p)]
    if taken:
        pytest.skip(f"the demo's ports are in use here: {taken}")
    out = (tmp_path / "demo.out").open("w+", encoding="utf-8")
    demo = subprocess.Popen([sys.executable, "-m", "edge.cli", "demo"], cwd=tmp_path,
                            stdout=out, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 90
        text = ""
        while "Ctrl-C stops it." not in text:
            assert demo.poll() is None, f"the demo exited: {text}"
            assert time.monotonic() < deadline, f"no banner: {text}"
            time.sleep(0.1)
            text = (tmp_path / "demo.out").read_text("utf-8")
        assert "http://127.0.0.1:8080/lane/1" in text
        assert "http://127.0.0.1:8081/console" in text
        assert "CRM (reference, same process): http://127.0.0.1:8090" in text
        wechat = re.search(r"storeedge scan (\d{18}) --lane 1 +# WeChat payment code", text)
        assert wechat, text

        # What the banner tells a newcomer to type, from the same folder.
        scanned = _storeedge(tmp_path, "scan", WATER, "--lane", "1")
        assert scanned.returncode == 0 and "农夫山泉" in scanned.stdout, scanned.stderr
        assert "storeedge weigh 570 --lane 1" in text
        bagged = _storeedge(tmp_path, "weigh", "570", "--lane", "1")
        assert bagged.returncode == 0 and "weight_ok" in bagged.stdout, bagged.stdout
        paid = _storeedge(tmp_path, "scan", wechat.group(1), "--lane", "1")
        assert paid.returncode == 0, paid.stdout + paid.stderr

        def sale_at_crm() -> bool:
            db = tmp_path / "var" / "crm.db"
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                rows = conn.execute("SELECT count(*) FROM events WHERE type = ?",
                                    ("sale.completed",)).fetchone()
            conn.close()
            return bool(rows[0])

        while not sale_at_crm():
            assert time.monotonic() < deadline, "the sale never reached the CRM"
            time.sleep(0.2)
        with urllib.request.urlopen("http://127.0.0.1:8080/api/lanes/1", timeout=10) as r:
            lane = json.load(r)
        assert lane["lines"] == [] and lane["last_sale"]["total_fen"] == 200
    finally:
        demo.send_signal(signal.SIGINT)        # Ctrl-C
        code = demo.wait(timeout=60)
        out.close()
    log = (tmp_path / "demo.out").read_text("utf-8")
    assert code == 0, log
    assert "Traceback" not in log
    assert not any(_port_taken(p) for p in DEMO_PORTS), "something still listens after Ctrl-C"
