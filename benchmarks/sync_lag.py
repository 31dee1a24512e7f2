"""Steady selling through the real engine; how long from a sale's commit to the CRM's ack.

    python -m benchmarks.sync_lag [--rate 20] [--seconds 60] [--dir DIR]

The daemon (``EdgeApp``: lanes, pricing, durable commits, the sync client with its default
timings) runs in this process; the reference CRM in its own (``storeedge crm-server``). Sales
of 2-5 scanned items are paid in cash on two lanes, open-loop at ``--rate`` per second. The
clock starts when ``pay_cash`` returns (the sale and its outbox event are durable) and stops
when the edge has durably recorded the CRM's acknowledgement (``sync_push``), watched from a
second read-only connection every 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._util import emit, load_note, percentile
from benchmarks.sync_drain import pairing_code, start_crm
from edge.app import EdgeApp
from edge.config import load_config
from edge.scan_router import route
from edge.seed import demo_age_restricted, demo_barcodes
from sync.pairing import pair_and_save


class AckWatcher:
    """Note when each acknowledged seq first appears in the edge database."""

    def __init__(self, db: Path) -> None:
        self.acked_at: dict[int, float] = {}
        self._db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ack-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        conn = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, timeout=5)
        seen = 0
        try:
            while not self._stop.is_set():
                acked = conn.execute("SELECT acked_through_seq FROM sync_push").fetchone()[0]
                now = time.monotonic()
                for seq in range(seen + 1, acked + 1):
                    self.acked_at[seq] = now
                seen = max(seen, acked)
                time.sleep(0.002)
        finally:
            conn.close()


async def sell(app: EdgeApp, rate: float, seconds: float) -> dict[int, float]:
    """Sell at ``rate`` per second for ``seconds``; return seq -> commit time."""
    # Not the beer: an age check locks a kiosk lane until an attendant clears it.
    adult = demo_age_restricted()
    codes = sorted(code for pid, code in demo_barcodes().items() if pid not in adult)
    rng = random.Random(3)
    committed: dict[int, float] = {}
    lanes = list(app.lanes.values())
    next_at = time.monotonic()
    end = next_at + seconds
    i = 0
    while next_at < end:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        lane = lanes[i % len(lanes)]
        for code in rng.sample(codes, rng.randint(2, 5)):
            await lane.handle_scan(route(code, app.config.scan))
        sale = await lane.pay_cash(lane.priced.total_fen + rng.randrange(0, 2000))
        committed[sale.outbox_seq] = time.monotonic()
        i += 1
        next_at += 1 / rate
    return committed


async def run(folder: Path, url: str, token: str, rate: float, seconds: float,
              ) -> tuple[list[float], float]:
    (folder / "edge.toml").write_text(f"""
[store]
id = "S001"
device_id = "lag-01"
[paths]
state_dir = "{folder}"
[http]
port = 0
[demo]
seed = true
[sync]
crm_url = "{url}"
[[lanes]]
id = "1"
kind = "kiosk"
[[lanes]]
id = "2"
kind = "staffed"
""", "utf-8")
    config = load_config(folder / "edge.toml")
    code = await asyncio.to_thread(pairing_code, url, token, "lag-01")
    await pair_and_save(config, code, url)
    app = EdgeApp(config)
    await app.start()
    # The staffed lane sells once a cashier is signed in and a shift is open.
    await app.users.create("bench", "cashier", "bench password", actor="benchmark")
    assert await app.cashier.sign_in("2", "bench", "bench password", address="benchmark")
    await app.cashier.shifts.open("2", 0, actor="bench")
    watcher = AckWatcher(config.paths.database)
    watcher.start()
    try:
        committed = await sell(app, rate, seconds)
        for _ in range(600):   # the last acknowledgements, for at most 30 s
            if len(watcher.acked_at) >= max(committed):
                break
            await asyncio.sleep(0.05)
        achieved = len(committed) / seconds
    finally:
        watcher.stop()
        await app.stop()
    lags = [watcher.acked_at[seq] - at for seq, at in committed.items()
            if seq in watcher.acked_at]
    if len(lags) != len(committed):
        raise SystemExit(f"only {len(lags)} of {len(committed)} sales were acknowledged")
    return lags, achieved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="sales per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: tmp)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sync-lag-", dir=args.dir))
    crm: subprocess.Popen[str] | None = None
    try:
        crm, url, token = start_crm(folder)
        lags, achieved = asyncio.run(run(folder, url, token, args.rate, args.seconds))
    finally:
        if crm is not None:
            crm.terminate()
            crm.wait(timeout=60)
            if crm.stdout is not None:
                crm.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    print(f"{len(lags)} sales at {achieved:.1f}/s (asked {args.rate:g}/s); commit -> CRM ack: "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms")
    print(load_note())
    emit({"p50_s": round(p50, 4), "p99_s": round(p99, 4), "max_s": round(max(lags), 4),
          "sales": len(lags), "rate": round(achieved, 1)})


if __name__ == "__main__":
    main()
