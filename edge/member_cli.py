"""``storeedge member code M0001``: the member's rotating code now, for store IT and the demo.

Reads the member's seed from this appliance's database (the members stream brings it from the
CRM) and prints ``MC<member>.<otp>``, how long it stays current, and with ``--qr`` the QR the
member's phone would show. The code is single-use: a scan takes it, the next minute's works.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

import qrcode

from sync import member_code

from .config import load_config

ENV_CONFIG = "STOREEDGE_CONFIG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("code",), help="code: print the current member code")
    parser.add_argument("member_id", help="the member's id, e.g. M0001")
    parser.add_argument("--qr", action="store_true", help="also draw the QR in the terminal")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help=f"config file (default: ${ENV_CONFIG}, else the embedded default)")


def run(args: argparse.Namespace) -> int:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    config = load_config(path)
    db = config.paths.database
    if not db.exists():
        print(f"No database at {db}", file=sys.stderr)
        return 1
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                           timeout=config.database.busy_timeout_ms / 1000)
    try:
        row = conn.execute("SELECT code_seed FROM members WHERE id = ?",
                           (args.member_id,)).fetchone()
    except sqlite3.Error as err:
        print(f"Database error: {err}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if row is None:
        print(f"No member {args.member_id} at this appliance", file=sys.stderr)
        return 1
    if not row[0]:
        print(f"Member {args.member_id} has no code seed yet: it comes with the members stream "
              "from the CRM (is the appliance paired?)", file=sys.stderr)
        return 1
    step_s = config.members.code_step_s
    now = time.time()
    try:
        code = member_code.code_for(args.member_id, row[0], now, step_s)
    except member_code.BadSeed as err:
        print(f"Member {args.member_id}: {err}", file=sys.stderr)
        return 1
    print(code)
    left = step_s - int(now % step_s)
    print(f"current for {left} s more (then {config.members.code_drift_steps} step(s) of grace);"
          " taken once", file=sys.stderr)
    if args.qr:
        qr = qrcode.QRCode(border=1)
        qr.add_data(code)
        qr.print_ascii(out=sys.stdout, invert=True)
    return 0
