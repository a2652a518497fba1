"""Kafka entrypoints of the consent service."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker

from schemas import MarkEvent, MarkPosted, NotificationRequested, Topics
from services.consent.domain import route_mark_posted
from services.consent.store import MongoConsentRegistry
from services.shared.kafka import subscribe

log = logging.getLogger(__name__)


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    registry: MongoConsentRegistry,
    publish: Callable[[NotificationRequested], Awaitable[None]],
    group_id: str,
) -> None:
    @subscribe(broker, topics, MarkPosted, group_id=group_id)
    async def on_mark_event(event: MarkEvent) -> None:
        """Turn a posted mark into one notification request per consenting recipient and channel.

        Corrections and retractions are accepted and not yet told (issue 4 extends the filter).
        """
        if await registry.processed.is_processed(event.event_id):
            return
        if not isinstance(event, MarkPosted):
            await registry.processed.mark(event.event_id)
            return
        decisions = await route_mark_posted(event, registry=registry, publish=publish)
        # Recorded after publishing: a crash in between republishes, and the notifier
        # deduplicates on the request's dedupe key.
        await registry.processed.mark(event.event_id)
        log.info(
            "event %s: %d of %d recipient channels notified",
            event.event_id,
            sum(d.notify for d in decisions),
            len(decisions),
        )
