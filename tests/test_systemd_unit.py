"""The shipped units, rules and installer: valid for systemd, consistent, and installable."""

from __future__ import annotations

import configparser
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from edge.install import CONFIG, FILES
from tests.helpers import ROOT

SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "storeedge.service"


def _unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(path)
    return unit


def _values(path: Path, key: str) -> list[str]:
    """Every value of a key that systemd lets repeat (configparser keeps only the last)."""
    return [line.split("=", 1)[1].strip() for line in path.read_text().splitlines()
            if line.startswith(f"{key}=")]


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    return tool


def _runnable_copy(source: Path, folder: Path, name: str | None = None) -> Path:
    """A copy whose executables exist here, so verify checks the unit, not this machine."""
    text = source.read_text()
    for binary in ("/opt/storeedge/.venv/bin/storeedge", "/usr/bin/cage"):
        text = text.replace(binary, "/bin/true")
    copy = folder / (name or source.name)
    copy.write_text(text)
    return copy


def test_unit_asks_for_what_the_daemon_provides() -> None:
    service = _unit(UNIT)["Service"]
    assert service["Type"] == "notify"  # the daemon sends READY=1 after start-up
    assert int(service["WatchdogSec"]) > 0  # ... and WATCHDOG=1 at half the interval
    assert service["KillSignal"] == "SIGTERM"  # ... and stops cleanly on it
    assert service["User"] == "storeedge" and service["StateDirectory"] == "storeedge"
    assert service["Restart"] == "on-failure" and service["CapabilityBoundingSet"] == ""


@pytest.mark.parametrize("name", ["storeedge.service", "storeedge-kiosk@.service",
                                  "storeedge-backup.service", "storeedge-backup.timer"])
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    tool = _analyze()
    instance = name.replace("@.", "@1.")
    copy = _runnable_copy(SYSTEMD / name, tmp_path, instance)
    if name.endswith(".timer"):  # a timer is verified with the service it starts
        _runnable_copy(SYSTEMD / "storeedge-backup.service", tmp_path)
    result = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True,
                            timeout=60, check=False, cwd=tmp_path)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if instance.split(".")[0] in line and "Documentation" not in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_daemon_unit_security_exposure_stays_low(tmp_path: Path) -> None:
    tool = _analyze()
    copy = _runnable_copy(UNIT, tmp_path)
    result = subprocess.run([tool, "security", "--offline=yes", str(copy)], capture_output=True,
                            text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for storeedge\.service: ([0-9.]+)", result.stdout)
    if match is None:
        pytest.skip(f"this systemd-analyze cannot rate a unit file offline: {result.stderr}")
    # 0 is a sealed box, 10 is root with everything; the daemon needs devices and the network.
    assert float(match.group(1)) <= 2.0, result.stdout


def test_kiosk_unit_runs_chromium_unprivileged_and_comes_back() -> None:
    path = SYSTEMD / "storeedge-kiosk@.service"
    service = _unit(path)["Service"]
    assert service["User"] == "storeedge-kiosk" and service["Restart"] == "always"
    assert "--kiosk" in service["ExecStart"] and "/kiosk/%i" in service["ExecStart"]
    assert "storeedge.service" in _unit(path)["Unit"]["After"]


# -- udev rules ---------------------------------------------------------------------------

_RULE_KEY = re.compile(
    r'^(?P<key>[A-Z_]+(?:\{[^}]+\})?)\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"$')
_DEVICE_CLASSES = {  # udev subsystem -> the DeviceAllow classes the daemon unit must grant
    "input": {"char-input"}, "tty": {"char-ttyACM", "char-ttyUSB"},
    "video4linux": {"char-video4linux"}, "usb": {"char-usb_device"}, "usbmisc": {"char-usb"},
}


def _rules() -> list[list[tuple[str, str, str]]]:
    rules = []
    for number, line in enumerate((SYSTEMD / "70-storeedge.rules").read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = []
        for item in line.split(", "):
            match = _RULE_KEY.match(item.strip())
            assert match, f"line {number}: cannot read {item!r}"
            parts.append((match["key"], match["op"], match["value"]))
        rules.append(parts)
    return rules


def test_udev_rules_give_stable_names_and_only_the_daemons_groups() -> None:
    sysusers = (SYSTEMD / "storeedge.sysusers").read_text().split("\n")
    daemon_groups = {line.split()[2] for line in sysusers if line.startswith("m storeedge ")}
    allowed = {v.split()[0] for v in _values(UNIT, "DeviceAllow")}
    assert set(_values(UNIT, "SupplementaryGroups")[0].split()) == daemon_groups
    device_rules = [r for r in _rules() if any(k == "SYMLINK" for k, _, _ in r)]
    assert len(device_rules) >= 6
    for rule in device_rules:
        keys = {k: (op, v) for k, op, v in rule}
        assert keys["SYMLINK"][0] == "+=" and keys["SYMLINK"][1].startswith("storeedge/")
        assert "$env{ID_PATH_TAG}" in keys["SYMLINK"][1]  # by port, never by kernel number
        assert keys["GROUP"][1] in daemon_groups and keys["MODE"][1] == "0660"
        subsystem = keys["SUBSYSTEM"][1]
        assert _DEVICE_CLASSES[subsystem] <= allowed, f"{subsystem} not in DeviceAllow"
    scanners = [r for r in device_rules if ("SUBSYSTEM", "==", "input") in r]
    assert all(("ENV{LIBINPUT_IGNORE_DEVICE}", "=", "1") in r for r in scanners)


# -- install and uninstall ------------------------------------------------------------------

def _storeedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_install_into_a_destdir_then_uninstall_keeps_the_data(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = _storeedge("install-systemd", "--destdir", str(root), "--prefix", "/srv/se")
    assert result.returncode == 0, result.stdout + result.stderr
    for item in FILES:
        assert (root / item.target.lstrip("/")).is_file(), item.target
    service = (root / "usr/lib/systemd/system/storeedge.service").read_text()
    assert "ExecStart=/srv/se/.venv/bin/storeedge run" in service
    config_path = root / CONFIG.lstrip("/")
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    config = load_config(config_path)
    assert str(config.paths.database) == "/var/lib/storeedge/storeedge.db"
    assert str(config.paths.log_dir) == "/var/log/storeedge" and config.demo.seed is False

    # The users and directories, created by systemd's own tools inside the staged root.
    sysusers, tmpfiles = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
    if sysusers and tmpfiles:
        etc = root / "etc"
        (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (etc / "group").write_text("root:x:0:\n")
        for name in ("shadow", "gshadow"):
            (etc / name).touch()
        done = subprocess.run([sysusers, f"--root={root}",
                               str(root / "usr/lib/sysusers.d/storeedge.conf")],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        groups = {line.split(":")[0]: line.split(":")[3].split(",")
                  for line in (etc / "group").read_text().splitlines()}
        for group in ("input", "dialout", "video", "lp"):
            assert "storeedge" in groups[group]
        assert "storeedge-kiosk:" in (etc / "passwd").read_text()
        done = subprocess.run([tmpfiles, f"--root={root}", "--create",
                               str(root / "usr/lib/tmpfiles.d/storeedge.conf")],
                              capture_output=True, text=True, timeout=60, check=False)
        # tmpfiles resolves group names on the host, so only the modes are checked here.
        assert (root / "var/backups/storeedge").is_dir(), done.stderr
        assert stat.S_IMODE((root / "etc/storeedge").stat().st_mode) == 0o750

    # Store IT edits the config; a reinstall must not overwrite it.
    config_path.write_text(config_path.read_text().replace('id = "S001"', 'id = "S042"'))
    again = _storeedge("install-systemd", "--destdir", str(root))
    assert again.returncode == 0 and "kept /etc/storeedge/storeedge.toml" in again.stdout
    assert load_config(config_path).store.id == "S042"

    data = root / "var/lib/storeedge/storeedge.db"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_bytes(b"the store's sales")
    gone = _storeedge("install-systemd", "--destdir", str(root), "--uninstall")
    assert gone.returncode == 0, gone.stdout
    for item in FILES:
        assert not (root / item.target.lstrip("/")).exists(), item.target
    assert data.read_bytes() == b"the store's sales" and config_path.exists()
