"""``storeedge sync``: the sync state, the dead letters, and sending them again after a fix.

``status`` asks the running daemon; ``dead-letters``, ``conflicts`` and ``retry`` work on the
database directly (short transactions in WAL mode), so they work with the daemon stopped too.
The running daemon sends retried events within its push interval.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edge.cli import daemon_url
from edge.config import load_config

from . import outbox

ENV_CONFIG = "STOREEDGE_CONFIG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("status", "dead-letters", "conflicts", "retry"),
                        help="what to show or do")
    parser.add_argument("seqs", nargs="*", type=int, help="retry: the dead letters' seqs")
    parser.add_argument("--all", action="store_true", help="retry: every dead letter")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help=f"config file (default: ${ENV_CONFIG}, else the embedded default)")


def run(args: argparse.Namespace) -> int:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    config = load_config(path)
    if args.action == "status":
        return _status(daemon_url(config))
    db = config.paths.database
    if not db.exists():
        print(f"No database at {db}", file=sys.stderr)
        return 1
    conn = sqlite3.connect(db, timeout=config.database.busy_timeout_ms / 1000,
                           isolation_level=None)
    try:
        if args.action == "dead-letters":
            _print_rows(outbox.dead_letters(conn, 1000), "No dead letters.")
        elif args.action == "conflicts":
            _print_rows(outbox.conflicts(conn, 1000), "No conflicts.")
        else:
            if not args.seqs and not args.all:
                print("Name the seqs to retry, or --all", file=sys.stderr)
                return 2
            conn.execute("BEGIN IMMEDIATE")
            count = outbox.request_retry(conn, None if args.all else args.seqs)
            conn.execute("COMMIT")
            print(f"{count} dead letter(s) will be sent again by the running daemon.")
    except sqlite3.Error as err:
        print(f"Database error: {err}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/api/status", timeout=5) as response:  # noqa: S310
            status: Any = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as err:
        print(f"Cannot reach the daemon at {url}: {err}", file=sys.stderr)
        return 1
    sync = status.get("sync") or {}
    print(f"{sync.get('state', '?')}: {sync.get('reason', '')}")
    for key in ("crm_url", "device_key", "last_success_at", "last_error", "pending_count",
                "pending_fen", "oldest_pending_age_s", "dead_letters", "conflicts",
                "clock_skew_s"):
        print(f"  {key}: {sync.get(key)}")
    return 0 if sync.get("state") == "online" else 1


def _print_rows(rows: list[dict[str, Any]], empty: str) -> None:
    if not rows:
        print(empty)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
