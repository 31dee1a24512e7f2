"""Run the daemon's EdgeApp and sell as fast as it can, printing each committed sale.

The crash-loop test kills this process with SIGKILL at random moments and restarts it; a
restarted worker resumes each lane's restored cart exactly as a restarted daemon would.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from edge.app import EdgeApp
from edge.config import load_config
from edge.scan_router import route
from edge.seed import demo_barcodes
from tests.helpers import staff_lane

# No attendant comes to this harness: age-restricted goods, which lock the lane until one
# does, are left out.
CODES = sorted(code for product, code in demo_barcodes().items()
               if product not in {"P023", "P024", "P025", "P026"})


async def sell(config_path: Path, seed: int) -> None:
    config = load_config(config_path)
    app = EdgeApp(config)
    await app.start()
    for lane_config in config.lanes:
        if lane_config.kind == "staffed":   # a staffed lane sells once a cashier is signed in
            await staff_lane(app, lane_config.id)
    rng = random.Random(seed)
    parent = os.getppid()
    print("STARTED", flush=True)
    try:
        while os.getppid() == parent:  # the test that started us is gone: stop selling
            for lane in app.lanes.values():
                if lane.cart.empty:
                    for code in rng.sample(CODES, 8):
                        await lane.handle_scan(route(code, config.scan))
                elif rng.random() < 0.5:  # sometimes a restored cart grows before it is paid
                    await lane.handle_scan(route(rng.choice(CODES), config.scan))
                cart_id = lane.cart.cart_id
                sale = await lane.pay_cash(lane.priced.total_fen + rng.randrange(0, 5000))
                print(f"COMMITTED {sale.sale_id} {cart_id}", flush=True)
    finally:
        await app.stop()


if __name__ == "__main__":
    asyncio.run(sell(Path(sys.argv[1]), int(sys.argv[2])))
