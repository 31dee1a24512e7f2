"""The suite's own guard rails work."""

import asyncio


async def test_a_finished_task_is_not_a_leak() -> None:
    task = asyncio.create_task(asyncio.sleep(0), name="finishes")
    await task
    assert task.done()
