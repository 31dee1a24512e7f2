"""``storeedge doctor``: check what the appliance needs and say how to fix what is missing."""

from __future__ import annotations

import ctypes.util
import datetime as dt
import importlib.util
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Config

MIN_FREE_MB = 200
WARN_FREE_MB = 1024


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    level: str  # "ok", "warn", "fail"
    message: str
    fix: str = ""


def run_checks(config: Config) -> list[Check]:
    checks: list[Callable[[Config], Iterator[Check]]] = [
        _zbar, _face_models, _face_key, _database, _disk, _clock, _devices,
    ]
    return [result for check in checks for result in check(config)]


def _zbar(_config: Config) -> Iterator[Check]:
    if ctypes.util.find_library("zbar"):
        yield Check("libzbar", "ok", "zbar shared library found (camera barcode decoding)")
    else:
        yield Check("libzbar", "fail", "zbar shared library not found: cameras cannot decode",
                    "apt-get install -y --no-install-recommends libzbar0")


def _face_models(_config: Config) -> Iterator[Check]:
    if importlib.util.find_spec("pkg_resources") is None:
        yield Check("face models", "fail", "setuptools' pkg_resources is missing; face "
                    "recognition would exit on import", "pip install 'setuptools<81'")
        return
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        yield Check("face models", "warn", "face_recognition_models not installed: face "
                    "recognition is off", "make setup (installs it with --no-deps)")
        return
    models = Path(spec.origin).parent / "models"
    found = sorted(p.name for p in models.glob("*.dat")) if models.is_dir() else []
    if len(found) >= 3:
        yield Check("face models", "ok", f"{len(found)} model files in {models}")
        yield from _face_encoder(models / "dlib_face_recognition_resnet_model_v1.dat")
    else:
        yield Check("face models", "fail", f"model files missing in {models}",
                    "pip install --force-reinstall --no-deps face_recognition_models")


def _face_encoder(model: Path) -> Iterator[Check]:
    from .face.resnet import FaceResNet, ModelFormatError  # noqa: PLC0415 - numpy only

    try:
        FaceResNet.load(model)
    except ModelFormatError as err:
        yield Check("face encoder", "warn", f"dlib's own encoder will be used, 4 times slower: "
                    f"{err}", "pip install --force-reinstall --no-deps face_recognition_models")
        return
    yield Check("face encoder", "ok", "face_recognition's network runs on numpy's BLAS; each "
                "face worker checks it against dlib's when it starts")


def _face_key(config: Config) -> Iterator[Check]:
    if not config.face.enabled:
        return
    key = config.face.key_file
    if not key.exists():
        yield Check("face key", "ok", f"{key} will be created (mode 0600) on the first start")
        return
    mode = key.stat().st_mode & 0o777
    if mode & 0o077:
        yield Check("face key", "fail", f"{key} is readable by others (mode {mode:o}): face "
                    "recognition will not start", f"chmod 600 {key}")
    elif key.stat().st_size != 32:
        yield Check("face key", "fail", f"{key} is damaged ({key.stat().st_size} bytes)",
                    "restore it from a backup, or move it away and re-enrol every member")
    else:
        yield Check("face key", "ok", f"{key}: mode 600, cameras: "
                    f"{', '.join(config.face.cameras) or 'none'}")


def _database(config: Config) -> Iterator[Check]:
    path = config.paths.database
    if not path.exists():
        yield Check("database", "warn", f"{path} does not exist yet",
                    "it is created on the first `storeedge run`")
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        yield Check("database", "fail", f"{path}: {err}",
                    "stop the daemon and restore the last backup (README: Backup and restore)")
        return
    if [r[0] for r in rows] != ["ok"]:
        yield Check("database", "fail", f"integrity check failed: {rows[0][0]}",
                    "stop the daemon and restore the last backup (README: Backup and restore)")
    else:
        size = path.stat().st_size // 1024
        yield Check("database", "ok", f"{path}: integrity ok, {mode} mode, {size} KiB")


def _disk(config: Config) -> Iterator[Check]:
    target = config.paths.state_dir
    probe = target if target.exists() else target.parent
    while not probe.exists():
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free // (1024 * 1024)
    if free_mb < MIN_FREE_MB:
        yield Check("disk", "fail", f"only {free_mb} MB free under {probe}: sales will be "
                    "refused when the disk fills", "free space or move the state directory")
    elif free_mb < WARN_FREE_MB:
        yield Check("disk", "warn", f"{free_mb} MB free under {probe}", "free some space soon")
    else:
        yield Check("disk", "ok", f"{free_mb} MB free under {probe}")


def _clock(_config: Config) -> Iterator[Check]:
    now = dt.datetime.now(dt.UTC)
    if now.year < 2024:
        yield Check("clock", "fail", f"the clock says {now:%Y-%m-%d}: receipts and payment "
                    "signatures will be wrong", "set the time; enable NTP (timedatectl "
                    "set-ntp true)")
        return
    synced = _ntp_synchronized()
    if synced is False:
        yield Check("clock", "warn", f"{now:%Y-%m-%d %H:%M} UTC, not NTP-synchronised",
                    "timedatectl set-ntp true")
    else:
        note = "NTP-synchronised" if synced else "NTP state unknown (no timedatectl)"
        yield Check("clock", "ok", f"{now:%Y-%m-%d %H:%M} UTC, {note}")


def _ntp_synchronized() -> bool | None:
    tool = shutil.which("timedatectl")
    if tool is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - a fixed system tool with fixed arguments
            [tool, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


def _devices(config: Config) -> Iterator[Check]:
    if not config.devices:
        yield Check("devices", "warn", "no devices configured", "add [[devices]] to the config")
    for device in config.devices:
        paths = [v for k, v in device.options.items()
                 if isinstance(v, str)
                 and k in ("path", "port", "node", "source", "device", "by_id")
                 and v.startswith("/dev/")]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            yield Check(f"device {device.id}", "fail", f"{', '.join(missing)} not present",
                        "check the cable and the udev rules; `ls -l /dev/input/by-id`")
        elif paths:
            unreadable = [p for p in paths if not os.access(p, os.R_OK | os.W_OK)]
            if unreadable:
                yield Check(f"device {device.id}", "fail", f"no access to {unreadable[0]}",
                            "add the storeedge user to the device's group (input/dialout/video)")
            else:
                yield Check(f"device {device.id}", "ok", f"{device.driver} at {paths[0]}")
        else:
            yield Check(f"device {device.id}", "ok", f"{device.driver} (no device node)")


def format_checks(checks: list[Check]) -> str:
    marks = {"ok": "  ok  ", "warn": " warn ", "fail": " FAIL "}
    lines = []
    for check in checks:
        lines.append(f"[{marks[check.level]}] {check.name}: {check.message}")
        if check.fix and check.level != "ok":
            lines.append(f"         fix: {check.fix}")
    return "\n".join(lines)
