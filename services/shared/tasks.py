"""Background loops that survive errors but still stop when they are told to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any

log = logging.getLogger(__name__)


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
    then cancel it and wait until it has ended. A cancellation can be lost inside a library
    (Python 3.11's `asyncio.wait_for` drops one that races with its result), and a loop that
    lost it would go on to its next, maybe day-long, sleep: the task is asked again each second
    until it ends."""
    task = asyncio.create_task(coroutine, name=name) if coroutine is not None else None
    try:
        yield
    finally:
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with suppress(asyncio.CancelledError):
                await task


async def keep_running(
    step: Callable[[], Awaitable[None]],
    *,
    name: str,
    retry_seconds: float,
    on_error: Callable[[BaseException], Awaitable[None] | None] | None = None,
) -> None:
    """The one shape of every background loop: call `step` again and again (it does its own
    waiting between units of work) until cancelled. A step that fails is logged by type (never
    its message, which may hold personal data), and tried again after `retry_seconds`:
    a database or Kafka outage must not end the loop."""
    while True:
        stop_if_cancelled()  # a library may have swallowed our cancellation
        try:
            await step()
        except Exception as error:
            stop_if_cancelled()
            log.warning("%s: %s; retrying in %ss", name, type(error).__name__, retry_seconds)
            if on_error is not None:
                with suppress(Exception):
                    outcome = on_error(error)
                    if outcome is not None:
                        await outcome
            await asyncio.sleep(retry_seconds)
