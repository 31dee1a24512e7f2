"""The shipped unit file is valid for systemd and matches what the daemon does."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "storeedge.service"


def test_unit_asks_for_what_the_daemon_provides() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    service = unit["Service"]
    assert service["Type"] == "notify"  # the daemon sends READY=1 after start-up
    assert int(service["WatchdogSec"]) > 0  # ... and WATCHDOG=1 at half the interval
    assert service["KillSignal"] == "SIGTERM"  # ... and stops cleanly on it
    assert service["User"] == "storeedge" and service["StateDirectory"] == "storeedge"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    # Verify a copy whose ExecStart points at an executable that exists here.
    text = UNIT.read_text().replace("/opt/storeedge/.venv/bin/storeedge", "/bin/true")
    unit = tmp_path / "storeedge.service"
    unit.write_text(text)
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "storeedge.service" in line and "Documentation" not in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
