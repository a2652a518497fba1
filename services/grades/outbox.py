"""The outbox relay: publishes what the store accepted, and only then forgets it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from schemas import Envelope
from services.grades.store import PendingRecord
from services.shared.tasks import stop_if_cancelled

log = logging.getLogger(__name__)

BATCH_SIZE = 500


class Outbox(Protocol):
    async def pending_events(self, limit: int) -> list[PendingRecord]: ...
    async def mark_published(self, records: list[PendingRecord]) -> None: ...
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
        publish: Callable[[list[Envelope[Any]]], Awaitable[list[BaseException | None]]],
        *,
        connect: Callable[[], Awaitable[None]],
        recently_published: Callable[[], Awaitable[set[str]]],
        poll_seconds: float,
        on_published: Callable[[Envelope[Any]], None] = lambda event: None,
        on_backlog: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._outbox = outbox
        self._publish = publish
        self._connect = connect
        self._recently_published = recently_published
        self._in_doubt: set[str] | None = None
        self._poll_seconds = poll_seconds
        self._on_published = on_published
        self._on_backlog = on_backlog
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of the oldest pending events; return how many records it held."""
        await self._connect()
        if self._in_doubt is None:
            # First pass since start: whatever a crashed predecessor published but did not
            # record sits at the tail of the partitions; record it instead of sending it again.
            self._in_doubt = await self._recently_published()
            log.info("outbox relay: %d recent events at the partition tails", len(self._in_doubt))
        batch = await self._outbox.pending_events(BATCH_SIZE)
        to_send = [
            e for record in batch for e in record.events if str(e.event_id) not in self._in_doubt
        ]
        try:
            outcomes = await self._publish(to_send)
        except BaseException:
            self._in_doubt = None  # some of the batch may have landed: look before resending
            raise
        failures = dict(zip((e.event_id for e in to_send), outcomes, strict=True))
        failed = [error for error in failures.values() if error is not None]
        # A record is done only when all its events are out; the rest wait for a retry.
        done = [r for r in batch if all(failures.get(e.event_id) is None for e in r.events)]
        await self._outbox.mark_published(done)
        for record in done:
            for event in record.events:
                self._on_published(event)
        if failed:
            # A send that timed out may still have landed (the broker came back while the
            # producer was retrying): like after a crash, look at the tails before resending.
            self._in_doubt = None
            raise failed[0]
        self._in_doubt.clear()
        return len(batch)

    async def run(self) -> None:
        while True:
            stop_if_cancelled()  # a library may have swallowed our cancellation
            # Cleared before the work, so a wake-up that arrives during it is not lost.
            self._wake.clear()
            try:
                full = await self.publish_pending() == BATCH_SIZE
                self._on_backlog(await self._outbox.outbox_backlog())
                if full:
                    continue  # more may be waiting
            except Exception as error:  # Kafka or MongoDB away: keep the events, retry later
                stop_if_cancelled()
                log.warning(
                    "outbox relay: %s: %s; retrying in %ss",
                    type(error).__name__, error, self._poll_seconds,
                )  # fmt: skip
                # The backlog grows while Kafka is away: that is when ops must see it.
                with contextlib.suppress(Exception):
                    self._on_backlog(await self._outbox.outbox_backlog())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
