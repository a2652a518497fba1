"""The outbox relay: publishes what the store accepted, and only then forgets it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from schemas import Envelope

log = logging.getLogger(__name__)

BATCH_SIZE = 500


class Outbox(Protocol):
    async def pending_events(self, limit: int) -> list[tuple[str, list[Envelope[Any]]]]: ...
    async def mark_published(self, document_id: str, events: list[Envelope[Any]]) -> None: ...
    async def outbox_backlog(self) -> int: ...


class OutboxRelay:
    """Runs as one background task per process; several processes may run one each.

    A crash between publishing and `mark_published` (or two relays reading the same record)
    publishes an event twice: at-least-once, which consumers absorb by deduplicating on the
    event id. Nothing is lost: a record forgets only the events it saw published.
    """

    def __init__(
        self,
        outbox: Outbox,
        publish: Callable[[list[Envelope[Any]]], Awaitable[None]],
        *,
        connect: Callable[[], Awaitable[None]],
        poll_seconds: float,
        on_published: Callable[[Envelope[Any]], None] = lambda event: None,
        on_backlog: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._outbox = outbox
        self._publish = publish
        self._connect = connect
        self._poll_seconds = poll_seconds
        self._on_published = on_published
        self._on_backlog = on_backlog
        self._wake = asyncio.Event()
        self.kafka_reachable = True

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of the oldest pending events; return how many there were."""
        await self._connect()
        batch = await self._outbox.pending_events(BATCH_SIZE)
        if batch:
            await self._publish([event for _, events in batch for event in events])
            for document_id, events in batch:
                await self._outbox.mark_published(document_id, events)
                for event in events:
                    self._on_published(event)
        return len(batch)

    async def run(self) -> None:
        while True:
            # Cleared before the work, so a wake-up that arrives during it is not lost.
            self._wake.clear()
            try:
                full = await self.publish_pending() == BATCH_SIZE
                self.kafka_reachable = True
                self._on_backlog(await self._outbox.outbox_backlog())
                if full:
                    continue  # more may be waiting
            except Exception as error:  # Kafka or MongoDB away: keep the events, retry later
                self.kafka_reachable = False
                log.warning(
                    "outbox relay: %s: %s; retrying in %ss",
                    type(error).__name__, error, self._poll_seconds,
                )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
