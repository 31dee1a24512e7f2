"""``storeedge weigh``: set the simulated bagging scale of a lane (demo and manual tries).

    storeedge weigh 570 --lane 1          a stable 570 g on the scale (the bag's total)
    storeedge weigh "900 motion" --lane 1 moving around 900 g
    storeedge weigh zero --lane 1         empty

It speaks to the ``sim_scale`` device's control socket; the daemon's real scale driver reads
the simulated firmware, and the kiosk judges the weight as it would a real one. Prints what
the lane made of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from drivers.sim_scale import send_weight

from .config import load_config

OUTCOMES = ("weight_ok", "intervention_raised", "intervention_cleared")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weight", help='grams, "GRAMS motion", zero, over, under')
    parser.add_argument("--lane", required=True)
    parser.add_argument("-c", "--config", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds to wait for the lane's verdict")


def _lane_state(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our daemon
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def run(args: argparse.Namespace) -> int:
    from .cli import daemon_url  # noqa: PLC0415 - the CLI module imports this one lazily

    config = load_config(args.config)
    scales = [d for d in config.devices if d.driver == "sim_scale" and d.lane == args.lane]
    if not scales or "control" not in scales[0].options:
        print(f"No simulated scale on lane {args.lane!r} in {config.source}", file=sys.stderr)
        return 2
    url = f"{daemon_url(config)}/api/lanes/{args.lane}"
    before = (_lane_state(url) or {}).get("last_event") or {}
    control = Path(str(scales[0].options["control"]))
    try:
        answer = asyncio.run(asyncio.wait_for(send_weight(control, args.weight), args.timeout))
    except (OSError, TimeoutError) as err:
        print(f"Cannot reach the simulated scale at {control} ({err}). Is the daemon running?",
              file=sys.stderr)
        return 1
    print(f"scale: {answer}")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        event = (_lane_state(url) or {}).get("last_event") or {}
        if event != before and event.get("code") in OUTCOMES:
            print(f"{'✓' if event['ok'] else '✗'} {event['message']} ({event['code']})")
            return 0 if event["ok"] else 1
        time.sleep(0.05)
    return 0 if answer.startswith("OK") else 1
