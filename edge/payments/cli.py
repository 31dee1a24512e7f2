"""``storeedge payments``: check the wallet links, list recent payments (store IT tools)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from pathlib import Path

from ..config import Config, load_config
from ..store import Store
from .records import PaymentRecord, recent
from .service import PaymentService

ENV_CONFIG = "STOREEDGE_CONFIG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="payments_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="prove each enabled wallet's keys, ids and link "
                           "work (a harmless order query; no money moves)")
    listing = sub.add_parser("list", help="recent payments, newest first (codes masked)")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    for p in (check, listing):
        p.add_argument("-c", "--config", type=Path, default=None,
                       help=f"config file (default: ${ENV_CONFIG}, else the embedded default)")


def run(args: argparse.Namespace) -> int:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    config = load_config(path)
    if args.payments_command == "check":
        return asyncio.run(_check(config))
    return _list(config, args.limit)


async def _check(config: Config) -> int:
    if not config.payments.enabled:
        print(f"No wallet is enabled in [payments] of {config.source}.")
        return 1
    service = PaymentService(Store(config.paths.database))  # the check never touches it
    await service.open(config.payments, device_id=config.store.device_id,
                       description=config.store.name)
    try:
        results = await service.check()
    finally:
        await service.aclose()
    for name in sorted(results):
        print(f"{name:8} {results[name]}")
    return 0 if all(r.startswith("ok") for r in results.values()) else 1


def _list(config: Config, limit: int) -> int:
    path = config.paths.database
    if not path.exists():
        print(f"No database at {path}")
        return 1
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = recent(db, limit)
    except sqlite3.Error as err:
        print(f"Cannot read payments from {path}: {err}")
        return 1
    finally:
        db.close()
    print(format_payments(rows))
    return 0


def format_payments(rows: list[PaymentRecord]) -> str:
    if not rows:
        return "No payments yet."
    lines = [f"{'created (UTC)':23} {'out_trade_no':32} {'wallet':6} {'amount':>10} "
             f"{'state':12} {'code':18} reason / provider id"]
    for r in rows:
        mark = " !" if r.state == "in_doubt" else ""
        lines.append(f"{r.created_at[:23]:23} {r.id:32} {r.provider:6} "
                     f"{'¥' + f'{r.amount_fen // 100}.{r.amount_fen % 100:02d}':>10} "
                     f"{r.state + mark:12} {r.code_masked:18} "
                     f"{r.reason or '-'} {r.transaction_id or ''}".rstrip())
    return "\n".join(lines)
