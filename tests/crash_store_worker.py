"""Run a whole store and sell as fast as it can: cash at the staffed lane, WeChat payment codes
at the kiosk, sync pushing to the CRM and change streams applying meanwhile.

The store crash test SIGKILLs this process at random moments and starts it again; each start
recovers what the last one left (open carts, unfinished payments, the outbox) exactly as a
restarted daemon does. Every sale it sees committed is printed as ``COMMITTED <sale_id>``.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from edge.app import EdgeApp
from edge.config import load_config
from edge.lane import LaneSession
from edge.scan_router import route
from edge.seed import demo_barcodes
from tests.helpers import staff_lane

CODES = sorted(demo_barcodes().values())
# Code endings the WeChat simulator reads: 0001 asks the shopper to confirm on the phone (the
# payment is in flight across polls), 0004 answers SYSTEMERROR (settled by query); others pay.
ENDINGS = ("0001", "0004", "1239", "5679", "7779")


SUPERVISOR, PIN = "crash.supervisor", "135790"


async def fill(lane: LaneSession, rng: random.Random, rules: object) -> None:
    if lane.cart.empty:
        for code in rng.sample(CODES, rng.randint(1, 4)):
            await lane.handle_scan(route(code, rules))  # type: ignore[arg-type]
            await attend(lane)


async def attend(lane: LaneSession) -> None:
    """Clear what locks the lane (an age check on the demo's beer) as the attendant would."""
    while lane.snapshot()["locked"]:
        await lane.clear_intervention(PIN, "pin")


async def sell(config_path: Path, seed: int) -> None:
    config = load_config(config_path)
    app = EdgeApp(config)
    await app.start()
    rng = random.Random(seed)
    kiosk, staffed = app.lanes["1"], app.lanes["2"]
    await staff_lane(app, "2")  # a cashier signs in and opens a shift before the lane sells
    if await app.users.get(SUPERVISOR) is None:
        await app.users.create(SUPERVISOR, "supervisor", "crash-password-1", actor="test",
                               pin=PIN)
    for lane in (kiosk, staffed):
        await attend(lane)  # a lock the last kill left behind
    seen: set[str] = set()
    parent = os.getppid()
    print("STARTED", flush=True)
    try:
        while os.getppid() == parent:  # the test that started us is gone: stop selling
            await fill(staffed, rng, config.scan)
            sale = await staffed.pay_cash(staffed.priced.total_fen + rng.randrange(0, 3000))
            print(f"COMMITTED {sale.sale_id}", flush=True)
            if kiosk.payment is None:
                await fill(kiosk, rng, config.scan)
                code = f"13{rng.randrange(10**12):012d}{rng.choice(ENDINGS)}"
                await kiosk.handle_scan(route(code, config.scan))
            if kiosk.last_sale is not None and kiosk.last_sale.sale_id not in seen:
                seen.add(kiosk.last_sale.sale_id)
                print(f"COMMITTED {kiosk.last_sale.sale_id}", flush=True)
            await asyncio.sleep(0.02)
    finally:
        await app.stop()


if __name__ == "__main__":
    asyncio.run(sell(Path(sys.argv[1]), int(sys.argv[2])))
