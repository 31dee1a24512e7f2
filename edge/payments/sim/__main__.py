"""Run one simulator on its own: ``python -m edge.payments.sim wechat --key-file K``.

Tests run it as a separate process beside a daemon they kill and restart; it writes its URL
to ``--url-file`` once it listens, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from ..keys import load_private_key, load_public_key, load_secret
from .alipay import AlipaySimulator
from .common import SimServer
from .wechat import WeChatPaySimulator


def build(args: argparse.Namespace) -> SimServer:
    if args.provider == "wechat":
        return WeChatPaySimulator(key=load_secret(args.key_file), appid=args.appid,
                                  mch_id=args.mch_id, hold_s=args.hold_s)
    return AlipaySimulator(app_public_key=load_public_key(args.app_public_key_file),
                           private_key=load_private_key(args.private_key_file),
                           app_id=args.app_id, hold_s=args.hold_s)


async def main(args: argparse.Namespace) -> None:
    sim = build(args)
    url = await sim.start(port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.url_file:
        tmp = args.url_file.with_name(args.url_file.name + ".tmp")
        tmp.write_text(url + "\n")
        tmp.replace(args.url_file)
    print(f"{args.provider} simulator on {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge.payments.sim",
                                description="Run a payment provider simulator.")
    p.add_argument("provider", choices=("wechat", "alipay"))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--url-file", type=Path, default=None, help="write the URL here once up")
    p.add_argument("--hold-s", type=float, default=30.0, help="how long 'no answer' lasts")
    p.add_argument("--key-file", type=Path, help="wechat: the merchant API key file")
    p.add_argument("--appid", default="wxd930ea5d5a258f4f")
    p.add_argument("--mch-id", default="10000100")
    p.add_argument("--app-public-key-file", type=Path, help="alipay: the app's public key")
    p.add_argument("--private-key-file", type=Path, help="alipay: the gateway's private key")
    p.add_argument("--app-id", default="2021000000000001")
    return p


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
    sys.exit(0)
