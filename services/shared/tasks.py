"""Background loops that survive errors but still stop when they are told to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any


def stop_if_cancelled() -> None:
    """Call at the top of a background loop and in its `except Exception`: some client
    libraries swallow a cancellation (or turn it into an error of their own), and a loop that
    never sees it would never stop: a shutdown that hangs."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@asynccontextmanager
async def in_background(
    coroutine: Coroutine[Any, Any, None] | None, *, name: str
) -> AsyncIterator[None]:
    """Run `coroutine` as a task for the duration of the block (nothing when it is None),
    then cancel it and wait until it has ended."""
    task = asyncio.create_task(coroutine, name=name) if coroutine is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
