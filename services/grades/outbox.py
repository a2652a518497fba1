"""The outbox relay: publishes what the store accepted, and only then forgets it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from schemas import Envelope

log = logging.getLogger(__name__)

BATCH_SIZE = 100


class Outbox(Protocol):
    async def pending_events(self, limit: int = 100) -> list[tuple[str, Envelope[Any]]]: ...
    async def mark_published(self, document_id: str, event: Envelope[Any]) -> None: ...


class OutboxRelay:
    """Runs as one background task per process.

    A crash between publishing and `mark_published` publishes that event again on restart:
    at-least-once, which consumers absorb by deduplicating on the event id.
    """

    def __init__(
        self,
        outbox: Outbox,
        publish: Callable[[Envelope[Any]], Awaitable[None]],
        *,
        poll_seconds: float,
        on_published: Callable[[Envelope[Any]], None] = lambda event: None,
    ) -> None:
        self._outbox = outbox
        self._publish = publish
        self._poll_seconds = poll_seconds
        self._on_published = on_published
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of the oldest pending events; return how many there were."""
        batch = await self._outbox.pending_events(BATCH_SIZE)
        for document_id, event in batch:
            await self._publish(event)
            await self._outbox.mark_published(document_id, event)
            self._on_published(event)
        return len(batch)

    async def run(self) -> None:
        while True:
            try:
                if await self.publish_pending() == BATCH_SIZE:
                    continue  # a full batch: more may be waiting
            except Exception:  # Kafka or MongoDB away: keep the events, try again later
                log.exception("outbox relay failed; retrying in %ss", self._poll_seconds)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
