"""``storeedge crm-server``: run the reference CRM on its own database file."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from .server import CrmServer, CrmSettings

_LOGGER = logging.getLogger(__name__)

# Allocations between two young collections (CPython's default is 700): more than a push of
# 1,000 events makes (~20,000 short-lived containers), so most of a push dies uncollected.
GC_YOUNG_THRESHOLD = 100_000


def tune_gc_for_ingest() -> None:
    """Freeze what startup made and collect the young generation rarely (this process only).

    Parsed events are acyclic and die with their push, yet at the default threshold the
    collector walked each push's containers dozens of times and the whole heap often: about
    a fifth of the CRM's CPU per event. Frozen startup objects are never walked again;
    cycles are still collected, in larger steps (a few MB at most).
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


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


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    token_file = args.admin_token_file or args.db.with_name(args.db.name + ".admin-token")
    try:
        token = admin_token(token_file)
    except (OSError, ValueError) as err:
        print(f"storeedge crm-server: {err}", file=sys.stderr)
        return 1
    settings = CrmSettings(admin_token=token, default_allowance_fen=args.allowance_fen)
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
