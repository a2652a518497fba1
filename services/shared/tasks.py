"""Background loops that survive errors but still stop when they are told to."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Call at the top of a background loop and in its `except Exception`: some client
    libraries swallow a cancellation (or turn it into an error of their own), and a loop that
    never sees it would never stop: a shutdown that hangs."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
