"""The ``storeedge`` command: run the daemon, set it up, check it, back it up, poke it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import importlib.util
import json
import logging
import logging.handlers
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config, default_config_text, load_config
from .errors import ConfigError, EdgeError
from .store import create_private

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
ENV_CONFIG = "STOREEDGE_CONFIG"
_LOGGER = logging.getLogger("edge")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=None,
        help=f"config file (default: ${ENV_CONFIG}, else the embedded demo default)")


def _load(args: argparse.Namespace) -> Config:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    return load_config(path)


def setup_logging(config: Config | None, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if config is not None:
        config.paths.log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            config.paths.log_dir / "storeedge.log", maxBytes=5 * 1024 * 1024, backupCount=5,
            encoding="utf-8"))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


# -- commands -------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    return _serve(config, args.verbose, banner=False)


def cmd_demo(args: argparse.Namespace) -> int:
    config = load_config(None)
    return _serve(config, args.verbose, banner=True, simulate_payments=True, demo_crm=True)


def _serve(config: Config, verbose: bool, *, banner: bool, simulate_payments: bool = False,
           demo_crm: bool = False) -> int:
    from .app import EdgeApp  # noqa: PLC0415 - keeps `storeedge --help` fast

    setup_logging(config, verbose)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            serving = config
            if demo_crm:  # the reference CRM beside the daemon, stopped after it
                from sync.demo import demo_crm as crm_beside  # noqa: PLC0415

                serving = await stack.enter_async_context(crm_beside(config))
            app = EdgeApp(serving, simulate_payments=simulate_payments)
            await app.run_until_signalled(
                on_ready=functools.partial(_print_banner, app) if banner else None)

    try:
        asyncio.run(main())
    except (OSError, EdgeError) as err:
        _LOGGER.error("Cannot start: %s", err)
        return EXIT_FAIL
    return EXIT_OK


def _print_banner(app: Any) -> None:
    if app.http_url is None:
        return
    lanes = "\n".join(f"    {app.http_url}/lane/{lane.id}   {lane.name} ({lane.kind})"
                      for lane in app.config.lanes)
    console = f"{app.console_url}/console" if app.console_url else "not running (see the log)"
    screens = "".join(f"\n    {app.http_url}/screen/{screen.zone}   {screen.name}"
                      for screen in app.config.signage.screens)
    screens = f"\n  Aisle screens (calls reach {app.http_url}/guides):{screens}" if screens else ""
    crm_url = app.config.sync.crm_url
    crm = f"\n  CRM (reference, same process): {crm_url}" if crm_url else ""
    print(f"""
StoreEdge demo is running: store {app.config.store.id}, database {app.config.paths.database}
  Status page:  {app.http_url}/
  Attendant:    {app.http_url}/attendant   (which kiosk needs help, and why)
  IT console:   {console}   (first run: the setup code is in the log above){crm}
  Lanes (a staffed lane: `storeedge user add NAME --role cashier`, then sign in there):
{lanes}{screens}
  Try it (in another terminal):
    .venv/bin/storeedge scan 6901234500011 --lane 1     # 农夫山泉 ...
    .venv/bin/storeedge weigh 570 --lane 1              # ... into the bag: the kiosk weighs it
    .venv/bin/storeedge scan 2210001012805 --lane 1     # apples ¥12.80, price-embedded scale label
    .venv/bin/storeedge weigh 1570 --lane 1             # (the bagging scale shows the total)
    .venv/bin/storeedge scan MC10000001 --lane 1        # member 张伟: member prices apply
    curl -s -XPOST {app.http_url}/api/lanes/1/cash -d '{{"tendered_fen": 10000}}'
{_payment_banner(app)}  Ctrl-C stops it.
""", flush=True)


def _payment_banner(app: Any) -> str:
    """Fresh payment codes for this run (each code pays once), or nothing without simulators."""
    if not app.payment_simulators:
        return ""
    from .payments.sim.demo import demo_codes  # noqa: PLC0415

    wechat, alipay = demo_codes()
    return (f"    .venv/bin/storeedge scan {wechat} --lane 1   # WeChat payment code\n"
            f"    .venv/bin/storeedge scan {alipay} --lane 1   # Alipay payment code\n"
            "    (simulated wallets, no real money; codes ending 0001 make the shopper confirm "
            "on the phone, 0002 have no balance: see docs/payments.md)\n")


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to overwrite", file=sys.stderr)
        return EXIT_FAIL
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(default_config_text(), "utf-8")
    print(f"Wrote {path}. Edit it, then: storeedge run --config {path}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import format_checks, run_checks  # noqa: PLC0415

    config = _load(args)
    checks = run_checks(config)
    print(f"StoreEdge {__version__} — config {config.source}")
    print(format_checks(checks))
    failed = [c for c in checks if c.level == "fail"]
    print(f"\n{len(failed)} problem(s) to fix." if failed else "\nAll checks passed.")
    return EXIT_FAIL if failed else EXIT_OK


BACKUP_GLOB = "storeedge-*.db"


def cmd_backup(args: argparse.Namespace) -> int:
    config = _load(args)
    source, dest = config.paths.database, args.dest
    if not source.exists():
        print(f"No database at {source}", file=sys.stderr)
        return EXIT_FAIL
    into_folder = dest.is_dir() or str(args.dest).endswith("/")
    if args.keep is not None and not into_folder:
        print("--keep needs a folder as the destination (end it with /)", file=sys.stderr)
        return EXIT_USAGE
    if into_folder:
        stamp = time.strftime("storeedge-%Y%m%d-%H%M%S")
        dest = dest / f"{stamp}.db"
        n = 1
        while dest.exists():  # two runs in one second
            dest, n = dest.with_name(f"{stamp}-{n}.db"), n + 1
    if dest.exists() and not args.force:
        print(f"{dest} exists; use --force to overwrite", file=sys.stderr)
        return EXIT_FAIL
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    create_private(tmp)  # a backup holds the same personal data as the database
    try:
        # The online backup API copies a consistent snapshot while the daemon keeps selling.
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10) as src:
            with sqlite3.connect(tmp) as out:
                src.backup(out, pages=1024)
                check = out.execute("PRAGMA integrity_check").fetchone()[0]
                sales = out.execute("SELECT count(*) FROM sales").fetchone()[0]
            out.close()
        src.close()
    except sqlite3.Error as err:
        tmp.unlink(missing_ok=True)
        print(f"Backup failed: {err}", file=sys.stderr)
        return EXIT_FAIL
    if check != "ok":
        tmp.unlink(missing_ok=True)
        print(f"Backup copy failed its integrity check: {check}", file=sys.stderr)
        return EXIT_FAIL
    os.replace(tmp, dest)
    print(f"Backed up {source} to {dest} ({dest.stat().st_size // 1024} KiB, {sales} sales, "
          "integrity ok)")
    if args.keep is not None:
        # Only our own timestamped files, oldest first; the new one is always kept.
        ours = sorted(dest.parent.glob(BACKUP_GLOB), key=lambda f: (f.stat().st_mtime, f.name))
        for old in ours[:-max(args.keep, 1)]:
            old.unlink()
            print(f"Removed old backup {old}")
    return EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    from drivers.sim_scanner import send_scan  # noqa: PLC0415

    config = _load(args)
    devices = [d for d in config.devices if d.driver == "sim_scanner" and d.lane == args.lane]
    if not devices:
        print(f"No simulated scanner on lane {args.lane!r} in {config.source}", file=sys.stderr)
        return EXIT_USAGE
    socket_path = Path(str(devices[0].options["socket"]))
    try:
        answer = asyncio.run(asyncio.wait_for(send_scan(socket_path, args.code), args.timeout))
    except (OSError, TimeoutError) as err:
        print(f"Cannot reach the daemon's scanner at {socket_path} ({err}). "
              "Is the daemon running (`make demo` or `storeedge run`)?", file=sys.stderr)
        return EXIT_FAIL
    if not answer.startswith("OK "):
        print(f"Scanner rejected the scan: {answer}", file=sys.stderr)
        return EXIT_FAIL
    scan_id = answer.split(" ", 1)[1]
    state = _await_lane_event(config, args.lane, scan_id, args.timeout)
    if state is None:
        print(f"Scan {scan_id} sent; the daemon did not report its outcome in time")
        return EXIT_FAIL
    event = state["last_event"]
    mark = "✓" if event["ok"] else "✗"
    print(f"{mark} {event['message']} ({event['code']})")
    total = state["total_fen"]
    member = f", member {state['member']['name']}" if state["member"] else ""
    print(f"  lane {args.lane}: {len(state['lines'])} lines, "
          f"total ¥{total // 100}.{total % 100:02d}{member}")
    return EXIT_OK if event["ok"] else EXIT_FAIL


def daemon_url(config: Config) -> str:
    """Return the running daemon's base URL, as it wrote it at start-up."""
    try:
        return (config.paths.run_dir / "http-url").read_text("utf-8").strip()
    except OSError:
        host = config.http.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        return f"http://{host}:{config.http.port}"


def _await_lane_event(config: Config, lane: str, scan_id: str, timeout: float) -> Any:
    """Return the lane's state with the scan's latest event once the lane has handled it."""
    url = f"{daemon_url(config)}/api/lanes/{lane}/scans/{scan_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            pass  # not handled yet (404), or the daemon is busy: ask again
        time.sleep(0.05)
    return None


def cmd_version(_args: argparse.Namespace) -> int:
    print(f"storeedge {__version__}")
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}")
    return EXIT_OK


def _plugin(module: str) -> tuple[Callable[[argparse.ArgumentParser], None],
                                  Callable[[argparse.Namespace], int]] | None:
    """Load an optional tool's ``add_arguments``/``run`` pair, or None if it is not shipped."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:  # the parent package is not shipped either
        return None
    mod = importlib.import_module(module)
    return mod.add_arguments, mod.run


PLUGINS = {
    "decode": ("drivers.decode_tool", "decode barcodes in image files as the cameras would"),
    "face": ("edge.face.cli", "enrol, identify and compare faces (store IT tools)"),
    "install-systemd": ("edge.install", "install the systemd units, udev rules, users and a "
                        "config (make install)"),
    "payments": ("edge.payments.cli", "check the wallet providers, list recent payments"),
    "member": ("edge.member_cli", "print a member's rotating member code (store IT, demo)"),
    "user": ("edge.users_cli", "add, reset, disable and list console users (store IT)"),
    "badge": ("edge.badge_cli", "give attendants badges that clear interventions (store IT)"),
    "weigh": ("edge.weigh_cli", "put a weight on a lane's simulated bagging scale"),
    "pair": ("sync.pairing", "pair this appliance with the CRM using a one-time code"),
    "sync": ("sync.cli", "sync status, dead letters and their retry"),
    "crm-server": ("sync.crm.cli", "run the reference CRM (tests, demo, conformance)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storeedge", description="StoreEdge in-store edge daemon and tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run the daemon with a config file")
    _config_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="run the daemon on the embedded demo store under ./var")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("init", help="write a commented default config file")
    p.add_argument("path", type=Path, nargs="?", default=Path("storeedge.toml"),
                   help="where to write it (default: ./storeedge.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("doctor", help="check libraries, models, devices, database, clock, disk")
    _config_arg(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backup", help="copy the live database to a file (safe while running)")
    p.add_argument("dest", type=Path, help="backup file to write, or a folder (ending in /) "
                   "to write a timestamped storeedge-YYYYmmdd-HHMMSS.db into")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--keep", type=int, default=None, metavar="N",
                   help="with a folder: keep only the N newest backups there")
    _config_arg(p)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("scan", help="inject a scan into the running daemon's simulated scanner")
    p.add_argument("code", help="the barcode text, e.g. 6901234500019")
    p.add_argument("--lane", required=True, help="lane id, e.g. 1")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    _config_arg(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("version", help="print versions")
    p.set_defaults(func=cmd_version)

    for name, (module, help_text) in PLUGINS.items():
        plugin = _plugin(module)
        if plugin is None:
            continue
        p = sub.add_parser(name, help=help_text)
        plugin[0](p)
        p.set_defaults(func=plugin[1])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as err:
        print(f"storeedge: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAIL
    return code


if __name__ == "__main__":
    sys.exit(main())
