"""Background loops end when their block ends, even when a library lost the cancellation."""

from __future__ import annotations

import asyncio

from services.shared.tasks import in_background


async def test_a_task_that_lost_its_cancellation_is_asked_again() -> None:
    async def swallows_once() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            # What a library does when it turns our cancellation into its own outcome.
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
        await asyncio.sleep(3600)  # the loop's next sleep: a day, in the retention purge

    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(5):
        async with in_background(swallows_once(), name="swallows"):
            await asyncio.sleep(0)
    assert loop.time() - started < 3  # it ended when asked again, not when the test gave up
