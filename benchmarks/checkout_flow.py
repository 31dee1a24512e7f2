"""A whole kiosk sale, from the first scan to paid by WeChat payment code, committed durably.

    python -m benchmarks.checkout_flow [--sales N] [--dir DIR] [--phase plain|loyalty|both]

The daemon's EdgeApp runs in this process with the demo catalog; each sale is four product
scans, a member code, and a WeChat payment code paid through the micropay client against the
WeChat Pay simulator, which runs as its own process (as a provider is another machine) on
loopback. The clock stops when the lane announces the payment succeeded: by then the sale,
its lines, the wallet tender, the payment row and the outbox event are one committed, fsynced
transaction. Every scan is a durable cart write too. Provider latency on the internet is not
in these figures; loopback HTTP, signing, XML and the simulator's own work are.

The *plain* phase shows the static demo member code; the *loyalty* phase instead shows a
rotating member code (checked offline, its step recorded), scans a coupon, pays 100 points
and lets the wallet pay the rest: the coupon optimiser, the balance reads and the loyalty
rows of the sale (coupon redeemed, points ledger) are in its figures. Each loyalty sale has
its own member and coupon, as a code and a bearer coupon are taken once.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import emit, load_note, percentile
from edge.app import EdgeApp
from edge.config import load_config
from edge.lane import LaneEvent, LaneSession
from edge.payments.keys import new_api_key, write_private_file
from edge.seed import demo_barcodes
from sync import member_code

CONFIG = """
[store]
id = "B01"
name = "基准店"
device_id = "bench-01"

[paths]
state_dir = "{state}"

[http]
port = 0

[console]
enabled = false

[demo]
seed = true

[members]
accept_static_codes = true

[[lanes]]
id = "1"
kind = "kiosk"

[payments.wechat]
enabled = true
base_url = "{url}"
appid = "wxd930ea5d5a258f4f"
mch_id = "10000100"
key_file = "wechat_api_key"
"""


def start_simulator(folder: Path, key_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    url_file = folder / "sim-url"
    proc = subprocess.Popen([sys.executable, "-m", "edge.payments.sim", "wechat",  # noqa: S603
                             "--key-file", str(key_file), "--url-file", str(url_file)],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not url_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the WeChat Pay simulator did not start")
        time.sleep(0.02)
    return proc, url_file.read_text().strip()


class Kiosk:
    def __init__(self, app: EdgeApp) -> None:
        self.app, self.lane = app, app.lanes["1"]
        # Nobody attends this kiosk: age-restricted goods would lock it for an ID check.
        self.codes = sorted(code for product, code in demo_barcodes().items()
                            if product not in {"P023", "P024", "P025", "P026"})
        self.rng = random.Random(5)
        self.ended = asyncio.Event()
        self.outcome = ""
        self.lane.observe(self._seen)

    def _seen(self, _lane: str, event: LaneEvent) -> None:
        if event.code in ("payment_succeeded", "payment_failed", "payment_in_doubt"):
            self.outcome = event.code
            self.ended.set()

    async def sale(self, n: int | None = None) -> tuple[float, float]:
        """Return (whole sale, payment code to paid) in milliseconds.

        With ``n``, the loyalty sale of bench member and coupon number ``n``.
        """
        lane: LaneSession = self.lane
        t0 = time.perf_counter()
        for code in self.rng.sample(self.codes, 4):
            await self.app.handle_scan(lane, code, None, None)
        if n is None:
            await self.app.handle_scan(lane, "MC10000001", None, None)
        else:
            await self._loyalty(lane, n)
        wallet_code = "13" + "".join(secrets.choice("0123456789") for _ in range(15)) + "9"
        self.ended.clear()
        t1 = time.perf_counter()
        started = await self.app.handle_scan(lane, wallet_code, None, None)
        if started.code != "payment_started":
            raise SystemExit(f"payment did not start: {started.message}")
        await asyncio.wait_for(self.ended.wait(), 30)
        t2 = time.perf_counter()
        if self.outcome != "payment_succeeded":
            raise SystemExit(f"payment ended {self.outcome}")
        return (t2 - t0) * 1000, (t2 - t1) * 1000

    async def _loyalty(self, lane: LaneSession, n: int) -> None:
        member_id = f"B{n:05d}"
        code = member_code.code_for(member_id, BENCH_SEED, time.time())
        for text, want in ((code, "member_identified"), (f"CPBENCH{n:05d}", "coupon_applied")):
            event = await self.app.handle_scan(lane, text, None, None)
            if event.code != want:
                raise SystemExit(f"{text}: {event.code} {event.message}")
        if (await lane.use_points(100)).code != "points_applied":
            raise SystemExit("points were not taken")


BENCH_SEED = base64.b32encode(b"storeedge-benchmark!").decode()


def bench_members(conn: sqlite3.Connection, count: int) -> None:
    """A member with points and a bearer coupon per loyalty sale (each is taken once)."""
    now = "2026-01-01T00:00:00+00:00"
    conn.executemany(
        "INSERT INTO members (id, name, phone, tier, points_balance, stored_value_fen,"
        " code_seed, updated_at) VALUES (?, '基准会员', NULL, 'standard', 10000, 0, ?, ?)",
        [(f"B{n:05d}", BENCH_SEED, now) for n in range(count)])
    conn.executemany(
        "INSERT INTO coupons (code, label, body, updated_at) VALUES (?, '减1元',"
        " '{\"kind\": \"cash_off\", \"off_fen\": 100}', ?)",
        [(f"BENCH{n:05d}", now) for n in range(count)])


Figures = dict[str, list[float]]


async def run(folder: Path, sales: int, phases: tuple[str, ...]) -> Figures:
    key_file = folder / "state" / "wechat_api_key"
    write_private_file(key_file, new_api_key().encode())
    proc, url = start_simulator(folder, key_file)
    try:
        config_path = folder / "bench.toml"
        config_path.write_text(CONFIG.format(state=folder / "state", url=url), "utf-8")
        app = EdgeApp(load_config(config_path))
        await app.start()
        figures: Figures = {}
        try:
            await app.store.write(lambda conn: bench_members(conn, sales + 10))
            kiosk = Kiosk(app)
            for phase in phases:
                loyal = phase == "loyalty"
                for n in range(10):  # warm-up
                    await kiosk.sale(n if loyal else None)
                whole: list[float] = []
                paying: list[float] = []
                for n in range(10, sales + 10):
                    total_ms, pay_ms = await kiosk.sale(n if loyal else None)
                    whole.append(total_ms)
                    paying.append(pay_ms)
                figures[phase], figures[phase + "_payment"] = whole, paying
        finally:
            await app.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=300, help="timed sales (default 300)")
    parser.add_argument("--dir", type=Path, default=Path("var"),
                        help="where the database goes: the disk the daemon uses (default ./var)")
    parser.add_argument("--phase", choices=("plain", "loyalty", "both"), default="both",
                        help="plain: static member code; loyalty: rotating member code, a "
                        "coupon and a points tender; both (default): one after the other")
    args = parser.parse_args()
    phases = ("plain", "loyalty") if args.phase == "both" else (args.phase,)
    args.dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-checkout-", dir=args.dir)).resolve()
    try:
        figures = asyncio.run(run(folder, args.sales, phases))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"Checkout flow, {args.sales} kiosk sales per phase (4 scans, a member code, a WeChat "
          f"payment code against the simulator), durable, on {args.dir.resolve()}")
    print(f"Machine: {load_note()}")
    out: dict[str, float] = {}
    for phase in phases:
        whole, paying = figures[phase], figures[phase + "_payment"]
        print(f"{phase}:")
        for name, ms in (("first scan to paid", whole), ("payment code to paid", paying)):
            print(f"  {name:<22} p50 {percentile(ms, 50):7.2f} ms   p99 "
                  f"{percentile(ms, 99):7.2f} ms   max {max(ms):7.2f} ms")
        prefix = "" if phase == "plain" else "loyalty_"
        out |= {f"{prefix}p50_ms": round(percentile(whole, 50), 2),
                f"{prefix}p99_ms": round(percentile(whole, 99), 2),
                f"{prefix}payment_p50_ms": round(percentile(paying, 50), 2),
                f"{prefix}payment_p99_ms": round(percentile(paying, 99), 2)}
    emit({**out, "sales": args.sales})


if __name__ == "__main__":
    main()
