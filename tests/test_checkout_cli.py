"""`storeedge badge` and `storeedge weigh` against a real daemon in a subprocess: a badge made
at the shell clears a lock; the simulated scale is set from the shell and the kiosk judges."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.checkout_support import SCALE
from tests.helpers import BEER, ROOT, WATER, Daemon, write_config


def storeedge(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args, "--config", str(config)],
                          cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_badge_made_at_the_shell_clears_a_locked_kiosk(tmp_path: Path) -> None:
    config = write_config(tmp_path, console="argon2_time_cost = 1\nargon2_memory_kib = 8192\n"
                          "argon2_parallelism = 1\n")
    daemon = Daemon(config, tmp_path / "state").start()
    try:
        added = storeedge(config, "user", "add", "zhao", "--role", "cashier",
                          "--password-stdin", stdin="zhao-password-1\n")
        assert added.returncode == 0, added.stderr
        made = storeedge(config, "badge", "add", "zhao")
        assert made.returncode == 0, made.stderr
        badge = made.stdout.strip().splitlines()[-1]
        assert badge.startswith("BADGE:") and len(badge) == 26
        assert storeedge(config, "badge", "add", "nobody").returncode == 1
        listed = storeedge(config, "badge", "list").stdout
        assert "zhao" in listed and badge[-4:] in listed and badge[6:-4] not in listed

        daemon.cli("scan", BEER, "--lane", "1")
        assert daemon.get("/api/lanes/1")["locked"]
        cleared = daemon.cli("scan", badge, "--lane", "1")
        assert cleared.returncode == 0 and "intervention_cleared" in cleared.stdout
        assert not daemon.get("/api/lanes/1")["locked"]

        revoked = storeedge(config, "badge", "revoke", "zhao")
        assert revoked.stdout.strip() == "Revoked 1 badge(s) of zhao"
        daemon.post("/api/lanes/1/cash", {"tendered_fen": 10000})
        daemon.cli("scan", BEER, "--lane", "1")            # a new cart: a new age check
        refused = daemon.cli("scan", badge, "--lane", "1")
        assert refused.returncode == 1 and "Badge not recognised" in refused.stdout
        assert daemon.get("/api/lanes/1")["locked"]
    finally:
        assert daemon.signal(signal.SIGTERM) == 0


def test_weigh_sets_the_scale_and_says_what_the_kiosk_made_of_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra=SCALE)
    daemon = Daemon(config, tmp_path / "state").start()
    try:
        assert storeedge(config, "weigh", "zero", "--lane", "1").returncode == 0
        scanned = daemon.cli("scan", WATER, "--lane", "1")
        assert "Please place 农夫山泉 550ml in the bagging area" in scanned.stdout
        wrong = storeedge(config, "weigh", "1140", "--lane", "1")
        assert wrong.returncode == 1, wrong.stdout
        assert "intervention_raised" in wrong.stdout and "does not match" in wrong.stdout
        lane = daemon.get("/api/lanes/1")
        assert lane["intervention"]["reason"] == "weight_mismatch"
        assert storeedge(config, "weigh", "500", "--lane", "2").returncode == 2
    finally:
        assert daemon.signal(signal.SIGTERM) == 0
