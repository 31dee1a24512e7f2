"""``storeedge crm-server``: run the reference CRM on its own database file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from .parsing import tune_gc_for_ingest
from .server import CrmServer, CrmSettings

_LOGGER = logging.getLogger(__name__)


def admin_token(path: Path) -> str:
    """Read the admin token from ``path``, creating it (mode 0600) the first time."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path} is readable by other users; chmod 600 it")
        token = path.read_text("utf-8").strip()
        if len(token) < 16:
            raise ValueError(f"{path} holds no usable token (16 characters or more)")
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    return token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, required=True, help="the CRM's SQLite file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8090, help="port (0: any free port)")
    parser.add_argument("--admin-token-file", type=Path, default=None,
                        help="file holding the admin API's bearer token (created 0600 if "
                        "missing; default: next to the database)")
    parser.add_argument("--seed-demo", action="store_true",
                        help="fill an empty database with the demo store")
    parser.add_argument("--allowance-fen", type=int, default=50_000,
                        help="stored value a device may take offline, granted when it pairs")
    parser.add_argument("--parse-workers", type=int, default=1, choices=range(0, 9),
                        metavar="N", help="processes that parse pushes beside the database "
                        "work (default 1; 0: a thread of the server)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    token_file = args.admin_token_file or args.db.with_name(args.db.name + ".admin-token")
    try:
        token = admin_token(token_file)
    except (OSError, ValueError) as err:
        print(f"storeedge crm-server: {err}", file=sys.stderr)
        return 1
    settings = CrmSettings(admin_token=token, default_allowance_fen=args.allowance_fen,
                           parse_workers=args.parse_workers)
    server = CrmServer(args.db, host=args.host, port=args.port, settings=settings,
                       seed_demo=args.seed_demo)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            tune_gc_for_ingest()
            print(f"CRM serving on {server.url}; admin token in {token_file}", flush=True)
            await stop.wait()
            _LOGGER.info("CRM: stopping on signal")

    try:
        asyncio.run(main())
    except (OSError, RuntimeError) as err:
        print(f"storeedge crm-server: cannot start: {err}", file=sys.stderr)
        return 1
    return 0
