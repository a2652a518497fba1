"""Kafka entrypoints of the notifier."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from schemas import NotificationRequested, NotificationSent, Topics
from services.notifier.domain import Mailer, deliver
from services.notifier.store import MongoDeliveries
from services.shared.kafka import subscribe

log = logging.getLogger(__name__)


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    deliveries: MongoDeliveries,
    mailer: Mailer,
    publish_status: Callable[[NotificationSent], Awaitable[None]],
    group_id: str,
    outcomes: Counter,
) -> None:
    @subscribe(broker, topics, NotificationRequested, group_id=group_id)
    async def on_notification_requested(request: NotificationRequested) -> None:
        """Send the notification unless its dedupe key was already sent."""
        if request.payload.channel != "email":
            # SMS and the personal-account inbox arrive with issue 5; until then they are
            # counted, not pretended to be sent.
            outcomes.labels(
                request.payload.channel, request.payload.content.kind, "unsupported"
            ).inc()
            return
        outcome = await deliver(
            request,
            deliveries=deliveries,
            mailer=mailer,
            publish_status=publish_status,
            now=lambda: datetime.now(UTC),
        )
        outcomes.labels(request.payload.channel, request.payload.content.kind, outcome).inc()
        # The dedupe key names the event and recipient ids, never an address.
        log.info("%s %s", outcome, request.payload.dedupe_key)
