"""The daemon speaks systemd's notify protocol: READY after start-up, WATCHDOG, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, write_config


def test_ready_only_after_start_up_then_watchdog_then_stopping(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(write_config(tmp_path))],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url_file = tmp_path / "state" / "run" / "http-url"
    try:
        messages: list[str] = []
        while not any("READY=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        # READY came after the web server was up and the devices were listening.
        assert url_file.exists()
        assert (tmp_path / "state" / "run" / "s1.sock").exists()
        ready = next(m for m in messages if "READY=1" in m)
        assert "STATUS=serving on http://127.0.0.1:" in ready

        pings = 0
        deadline = time.monotonic() + 30
        while pings < 3 and time.monotonic() < deadline:
            if sock.recv(4096).decode() == "WATCHDOG=1":
                pings += 1
        assert pings == 3

        proc.send_signal(signal.SIGTERM)
        while True:
            message = sock.recv(4096).decode()
            if "STOPPING=1" in message:
                break
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
