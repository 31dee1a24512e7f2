"""Self-checkout security on the real engine: the exit gate and the bagging check.

    python -m benchmarks.self_checkout [--exits N] [--items N] [--dir DIR]

The daemon's EdgeApp runs in this process with the demo catalog, a kiosk lane and an exit lane.

- exit: a scan-and-go token scanned at the exit station, to the lane's answer: routing,
  Ed25519 verification under the keys of the store's database, the once-only record and its
  audit row in one fsynced transaction.
- bagging: a product scanned at the kiosk, then the bagging scale's settled reading as the
  scale driver hands it over, to ``weight_ok``: the expectation (catalog weight), the weight
  task, the lane lock, the verdict. The scale's own polling interval is not in the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from benchmarks._util import emit, load_note, percentile
from drivers.base import ScaleState, WeightReading
from edge.app import EdgeApp
from edge.config import load_config
from edge.exit_tokens import ExitClaims, key_id, sign_token
from edge.lane import LaneEvent
from edge.seed import demo_barcodes

CONFIG = """
[store]
id = "B01"
device_id = "bench-01"

[paths]
state_dir = "{state}"

[http]
port = 0

[console]
enabled = false

[sync]
enabled = false

[demo]
seed = true

[checkout]
exit_public_keys = ["exit.pub"]
print_receipts = false

[[lanes]]
id = "1"
kind = "kiosk"

[[lanes]]
id = "9"
kind = "exit"

[[devices]]
id = "scale-1"
driver = "sim_scale"
lane = "1"
"""


async def exits(app: EdgeApp, key: Ed25519PrivateKey, count: int) -> list[float]:
    lane, kid = app.lanes["9"], key_id(key.public_key())
    times = []
    for _ in range(count):
        now = int(time.time())
        token = "EXIT." + sign_token(key, ExitClaims(kid, "B01", uuid.uuid4().hex, now,
                                                     now + 600, 3, 2350))
        t0 = time.perf_counter()
        event = await app.handle_scan(lane, token, None, None)
        times.append((time.perf_counter() - t0) * 1000)
        if event.code != "exit_passed":
            raise SystemExit(f"exit refused: {event.message}")
    return times


async def bagging(app: EdgeApp, items: int) -> list[float]:
    lane = app.lanes["1"]
    code, grams = demo_barcodes()["P001"], 570
    ok = asyncio.Event()

    def seen(_lane: str, event: LaneEvent) -> None:
        if event.code == "weight_ok":
            ok.set()
        elif event.code == "intervention_raised":
            raise SystemExit(f"intervention: {event.message}")

    lane.observe(seen)
    lane.weight(WeightReading("scale-1", 0, ScaleState.ZERO))
    times, total = [], 0
    for n in range(items):
        if n and n % 20 == 0:       # a fresh cart now and then: carts stay realistic
            await lane.pay_cash(lane.priced.total_fen)
            total = 0
            lane.weight(WeightReading("scale-1", 0, ScaleState.ZERO))  # the bags go home
            await asyncio.sleep(0.05)
        ok.clear()
        t0 = time.perf_counter()
        await app.handle_scan(lane, code, None, None)
        total += grams
        lane.weight(WeightReading("scale-1", total, ScaleState.STABLE))
        await asyncio.wait_for(ok.wait(), 10)
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def run(folder: Path, exit_count: int, items: int) -> tuple[list[float], list[float]]:
    key = Ed25519PrivateKey.generate()
    state = folder / "state"
    state.mkdir(parents=True)
    (state / "exit.pub").write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    config_path = folder / "bench.toml"
    config_path.write_text(CONFIG.format(state=state), "utf-8")
    app = EdgeApp(load_config(config_path))
    await app.start()
    try:
        await exits(app, key, 20)                       # warm-up
        exit_ms = await exits(app, key, exit_count)
        bag_ms = await bagging(app, items)
    finally:
        await app.stop()
    return exit_ms, bag_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exits", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-checkout-", dir=args.dir))
    try:
        exit_ms, bag_ms = asyncio.run(run(folder, args.exits, args.items))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "exit_p50_ms": round(percentile(exit_ms, 50), 2),
        "exit_p99_ms": round(percentile(exit_ms, 99), 2),
        "bagging_p50_ms": round(percentile(bag_ms, 50), 2),
        "bagging_p99_ms": round(percentile(bag_ms, 99), 2),
        "exits": len(exit_ms), "items": len(bag_ms),
    }
    print(f"exit gate: {len(exit_ms)} tokens, p50 {figures['exit_p50_ms']} ms, "
          f"p99 {figures['exit_p99_ms']} ms")
    print(f"bagging: {len(bag_ms)} items scanned and weighed, p50 {figures['bagging_p50_ms']} "
          f"ms, p99 {figures['bagging_p99_ms']} ms")
    print(load_note())
    emit(figures)


if __name__ == "__main__":
    main()
