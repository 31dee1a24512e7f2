"""Waiting on drivers in tests: the next event, or a state, within a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drivers.base import DeviceEvent, DeviceState, Driver, StatusChanged

WAIT = 10.0  # seconds; a bound on waiting for something that should happen, not a speed check


async def next_event(driver: Driver, *, status: bool = False,
                     within: float = WAIT) -> DeviceEvent:
    """Return the driver's next event (skipping status changes unless ``status``)."""
    events = driver.events()
    try:
        async with asyncio.timeout(within):
            async for event in events:
                if status or not isinstance(event, StatusChanged):
                    return event
    finally:
        await events.aclose()
    raise AssertionError("events() ended")


async def next_events(driver: Driver, count: int, within: float = WAIT) -> list[DeviceEvent]:
    return [await next_event(driver, within=within) for _ in range(count)]


async def wait_for(check: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` when it never does."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_state(driver: Driver, state: DeviceState, reason: str = "",
                     within: float = WAIT) -> None:
    def reached() -> bool:
        status = driver.status
        return status.state is state and reason in (status.reason or "")

    try:
        await wait_for(reached, f"{driver.device_id} {state} {reason!r}", within)
    except AssertionError:
        raise AssertionError(f"{driver.device_id}: wanted {state} {reason!r}, is "
                             f"{driver.status.state} {driver.status.reason!r}") from None
