"""Background loops that survive errors but still stop when they are told to."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Call in a loop's `except Exception`: some client libraries turn a cancellation into an
    error of their own, and a loop that swallowed it would never stop (a shutdown that hangs)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
