"""A live feed poked at the moment it is stopped still stops (the attendant's view is poked by
every intervention, so at shutdown this happens)."""

from __future__ import annotations

import asyncio
from typing import Any

from kiosk_ui.push import Feed


async def test_a_feed_poked_as_it_is_cancelled_stops() -> None:
    async def compute() -> dict[str, Any]:
        return {"lanes": []}

    for _ in range(50):
        feed = Feed("attendant", compute, interval_s=5.0, min_gap_s=0.0)
        await feed.start()
        await asyncio.sleep(0.001)          # the feed now waits for a poke
        feed.poke()
        stopping = asyncio.ensure_future(feed.stop())   # the cancel lands with the wake-up
        done, _ = await asyncio.wait({stopping}, timeout=10)
        assert done, "the feed swallowed its cancellation and never stopped"
