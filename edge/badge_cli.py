"""``storeedge badge``: give attendants badges, list them, revoke them (store IT, shell).

A badge is printed as a barcode of ``BADGE:<id>``; scanning it at a lane clears an
intervention in its holder's name. ``add`` makes up a 120-bit id unless ``--id`` names the
id of a card the store already has; the id is shown once and never stored, only its hash.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from .badges import Badges
from .config import load_config
from .errors import ConfigError, EdgeError
from .store import Store
from .users import UserError, Users
from .users_cli import ENV_CONFIG, _actor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", type=Path, default=None,
                        help=f"config file (default: ${ENV_CONFIG}, else the embedded default)")
    sub = parser.add_subparsers(dest="badge_command", metavar="ACTION", required=True)
    p = sub.add_parser("add", help="give a console user a badge; prints what to print on it",
                       parents=[common])
    p.add_argument("name")
    p.add_argument("--id", dest="badge_id", default=None,
                   help="an existing card's id (8-64 letters, digits, . _ -)")
    p = sub.add_parser("revoke", help="revoke every badge of a user", parents=[common])
    p.add_argument("name")
    sub.add_parser("list", help="list badges and who holds them", parents=[common])


async def _act(args: argparse.Namespace, badges: Badges) -> str:
    actor = _actor()
    if args.badge_command == "add":
        badge = await badges.assign(args.name, args.badge_id, actor=actor)
        return (f"Badge for {args.name}: print this as a QR or Code 128 barcode (shown once):\n"
                f"BADGE:{badge}")
    if args.badge_command == "revoke":
        count = await badges.revoke(args.name, actor=actor)
        return f"Revoked {count} badge(s) of {args.name}"
    rows = await badges.list_all()
    return "\n".join(
        f"{r['name']:<20} {r['role']:<11} ...{r['hint']}  since {r['created_at'][:10]}"
        f"{'  REVOKED ' + r['revoked_at'][:10] if r['revoked_at'] else ''}"
        for r in rows) or "No badges."


async def _main(args: argparse.Namespace) -> str:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    config = load_config(path)
    store = Store(config.paths.database, busy_timeout_ms=max(config.database.busy_timeout_ms,
                                                             5000), checkpoint_interval_s=0)
    await store.open()
    try:
        users = Users(store, hash_params=config.console.hashing, policy=config.console.login)
        return await _act(args, Badges(store, users))
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(_main(args)))
    except UserError as err:
        print(f"storeedge badge: {err}", file=sys.stderr)
        return 1
    except ConfigError:
        raise
    except EdgeError as err:
        print(f"storeedge badge: {err}", file=sys.stderr)
        return 1
    return 0
