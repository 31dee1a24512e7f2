"""``storeedge install-systemd``: put the units, udev rules, users and a config in place.

Installs into a root folder (``--destdir``, default ``/``) so packaging can stage the files; on a
live system (no destdir) it also creates the users, the directories, reloads udev and systemd.
``--uninstall`` removes exactly the files it installs and leaves the config, the database, the
backups and the logs: a reinstall finds the store as it was.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import default_config_text

SOURCE = Path(__file__).resolve().parents[1] / "systemd"
DEFAULT_PREFIX = "/opt/storeedge"
STATE_DIR = "/var/lib/storeedge"
LOG_DIR = "/var/log/storeedge"


@dataclass(frozen=True, slots=True)
class Installed:
    source: str  # file name under systemd/
    target: str  # absolute path on the installed system


FILES = (
    Installed("storeedge.service", "/usr/lib/systemd/system/storeedge.service"),
    Installed("storeedge-kiosk@.service", "/usr/lib/systemd/system/storeedge-kiosk@.service"),
    Installed("storeedge-backup.service", "/usr/lib/systemd/system/storeedge-backup.service"),
    Installed("storeedge-backup.timer", "/usr/lib/systemd/system/storeedge-backup.timer"),
    Installed("70-storeedge.rules", "/usr/lib/udev/rules.d/70-storeedge.rules"),
    Installed("storeedge.sysusers", "/usr/lib/sysusers.d/storeedge.conf"),
    Installed("storeedge.tmpfiles", "/usr/lib/tmpfiles.d/storeedge.conf"),
)
CONFIG = "/etc/storeedge/storeedge.toml"


class InstallError(Exception):
    """The install cannot go on; the message says why."""


def production_config() -> str:
    """Return the default config with the paths and settings of an installed appliance."""
    text = default_config_text()
    for old, new in (
        ('state_dir = "var"', f'state_dir = "{STATE_DIR}"'),
        ('log_dir = "log"', f'log_dir = "{LOG_DIR}"'),
        ("seed = true", "seed = false"),
        ("accept_static_codes = true", "accept_static_codes = false"),
    ):
        if text.count(old) != 1:
            raise InstallError(f"the default config no longer has exactly one {old!r}")
        text = text.replace(old, new)
    return text


def _render(item: Installed, prefix: str) -> str:
    text = (SOURCE / item.source).read_text("utf-8")
    return text.replace(DEFAULT_PREFIX, prefix.rstrip("/"))


def install(destdir: Path, prefix: str) -> list[str]:
    """Write every file under ``destdir``; return what was done, a line each."""
    if not SOURCE.is_dir():
        raise InstallError(f"{SOURCE} is missing: install from a checkout of the project")
    if not prefix.startswith("/"):
        raise InstallError(f"--prefix must be an absolute path, got {prefix!r}")
    done = []
    if prefix.startswith(("/home/", "/root/")):
        done.append(f"WARNING: {prefix} is under a home folder, which the daemon's unit hides "
                    "(ProtectHome=yes); install the program in /opt/storeedge")
    for item in FILES:
        target = destdir / item.target.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_render(item, prefix), "utf-8")
        target.chmod(0o644)
        done.append(f"installed {item.target}")
    config = destdir / CONFIG.lstrip("/")
    if config.exists():
        done.append(f"kept {CONFIG} (already there)")
    else:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(production_config(), "utf-8")
        config.chmod(0o640)
        done.append(f"wrote {CONFIG} (edit it: store id, lanes, devices)")
    return done


def uninstall(destdir: Path) -> list[str]:
    """Remove the installed files; keep config, data, backups and logs."""
    done = []
    for item in FILES:
        target = destdir / item.target.lstrip("/")
        if target.exists():
            target.unlink()
            done.append(f"removed {item.target}")
    done.append(f"kept {CONFIG}, {STATE_DIR} (the database), /var/backups/storeedge and "
                f"{LOG_DIR}: delete them by hand to erase the store's data")
    return done


def activate() -> list[str]:
    """On a live system: create users and directories, reload udev and systemd."""
    done = []
    for tool, args in (
        ("systemd-sysusers", ["/usr/lib/sysusers.d/storeedge.conf"]),
        ("systemd-tmpfiles", ["--create", "/usr/lib/tmpfiles.d/storeedge.conf"]),
        ("udevadm", ["control", "--reload"]),
        ("udevadm", ["trigger", "--action=add", "--subsystem-match=input",
                     "--subsystem-match=tty", "--subsystem-match=video4linux",
                     "--subsystem-match=usb", "--subsystem-match=usbmisc"]),
        ("systemctl", ["daemon-reload"]),
    ):
        path = shutil.which(tool)
        if path is None:
            done.append(f"skipped {tool} (not installed)")
            continue
        result = subprocess.run([path, *args], capture_output=True, text=True,  # noqa: S603
                                timeout=120, check=False)
        word = "ran" if result.returncode == 0 else f"FAILED ({result.returncode})"
        done.append(f"{word} {tool} {' '.join(args)}"
                    + (f": {result.stderr.strip()}" if result.returncode else ""))
    return done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--destdir", type=Path, default=None,
                        help="stage the files under this root instead of / (for packaging)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX,
                        help=f"where the program is installed (default {DEFAULT_PREFIX})")
    parser.add_argument("--uninstall", action="store_true",
                        help="remove the units and rules; keep config, data and logs")


def run(args: argparse.Namespace) -> int:
    destdir: Path = args.destdir or Path("/")
    live = args.destdir is None
    try:
        lines = uninstall(destdir) if args.uninstall else install(destdir, args.prefix)
    except (InstallError, OSError) as err:
        print(f"storeedge install-systemd: {err}")
        return 1
    if live:
        lines += activate()
    for line in lines:
        print(line)
    if live and not args.uninstall:
        print("next: edit /etc/storeedge/storeedge.toml, then "
              "`systemctl enable --now storeedge storeedge-backup.timer`")
    return 0

