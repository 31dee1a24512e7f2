"""``storeedge user``: add, reset and disable console users from the appliance's shell.

For store IT when nobody can sign in (the last admin forgot the password, or a new appliance
is set up by script). Passwords and PINs are read with getpass from the terminal (never echoed)
or, for scripts, one line from stdin with ``--password-stdin``/``--pin-stdin``; they are never
printed or logged. Works while the daemon runs: SQLite serialises the writes, and the daemon
sees a reset within ``console.session_recheck_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from .config import load_config
from .errors import ConfigError, EdgeError
from .store import Store
from .users import Role, User, UserError, Users

ENV_CONFIG = "STOREEDGE_CONFIG"


class SecretError(Exception):
    """A password or PIN could not be read, or the two entries differ."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", type=Path, default=None,
                        help=f"config file (default: ${ENV_CONFIG}, else the embedded default)")
    sub = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = sub.add_parser("add", help="create a user (asks for the password)", parents=[common])
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password as one line from stdin (for scripts)")
    p = sub.add_parser("passwd", help="set a new password; ends the user's sessions",
                       parents=[common])
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true")
    p = sub.add_parser("pin", help="set a supervisor's PIN (asks for it), or --clear it",
                       parents=[common])
    p.add_argument("name")
    p.add_argument("--pin-stdin", action="store_true")
    p.add_argument("--clear", action="store_true", help="remove the PIN")
    p = sub.add_parser("disable", help="disable a user; ends their sessions", parents=[common])
    p.add_argument("name")
    p = sub.add_parser("enable", help="enable a disabled user", parents=[common])
    p.add_argument("name")
    sub.add_parser("list", help="list users, roles and status", parents=[common])


def read_secret(what: str, *, from_stdin: bool, confirm: bool = True) -> str:
    """Return a secret typed at the terminal (twice) or one line of stdin."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise SecretError(f"no {what} on stdin")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise SecretError(f"no terminal to ask for the {what} on; pipe it in with "
                          f"--{'pin' if what == 'PIN' else 'password'}-stdin")
    first = getpass.getpass(f"New {what}: ")
    if confirm and getpass.getpass(f"New {what} again: ") != first:
        raise SecretError(f"the two {what}s differ; nothing changed")
    return first


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _describe(user: User) -> str:
    state = "disabled" if user.disabled else "active"
    pin = ", PIN set" if user.has_pin else ""
    return f"{user.name} ({user.role}, {state}{pin})"


async def _act(args: argparse.Namespace, users: Users) -> str:
    actor, command = _actor(), args.user_command
    if command == "list":
        rows = await users.list_all()
        return "\n".join(f"{u.name:<20} {u.role:<11} {'disabled' if u.disabled else 'active':<9}"
                         f" {'PIN' if u.has_pin else '-':<4} last sign-in: "
                         f"{u.last_login_at or 'never'}" for u in rows) or "No console users."
    if command == "add":
        password = read_secret("password", from_stdin=args.password_stdin)
        user = await users.create(args.name, args.role, password, actor=actor)
        return f"Created {_describe(user)}"
    if command == "passwd":
        if await users.get(args.name) is None:  # say so before asking for a password
            raise UserError(f"no user named {args.name!r}")
        password = read_secret("password", from_stdin=args.password_stdin)
        user = await users.set_password(args.name, password, actor=actor)
        return f"New password set for {_describe(user)}; their sessions have ended"
    if command == "pin":
        pin = None if args.clear else read_secret("PIN", from_stdin=args.pin_stdin)
        user = await users.set_pin(args.name, pin, actor=actor)
        return f"PIN {'cleared' if pin is None else 'set'} for {_describe(user)}"
    disabled = command == "disable"
    user = await users.set_disabled(args.name, disabled, actor=actor)
    return f"{'Disabled' if disabled else 'Enabled'} {_describe(user)}"


async def _main(args: argparse.Namespace) -> str:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    config = load_config(path)
    store = Store(config.paths.database, busy_timeout_ms=max(config.database.busy_timeout_ms,
                                                             5000),
                  checkpoint_interval_s=0)
    await store.open()
    try:
        users = Users(store, hash_params=config.console.hashing, policy=config.console.login)
        return await _act(args, users)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(_main(args)))
    except (UserError, SecretError) as err:
        print(f"storeedge user: {err}", file=sys.stderr)
        return 1
    except ConfigError:
        raise  # `storeedge` reports it with the file and key, exit status 2
    except EdgeError as err:
        print(f"storeedge user: cannot change users: {err}", file=sys.stderr)
        return 1
    return 0
