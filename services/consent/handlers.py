"""Kafka entrypoints of the consent service: the filter between the journal and the notifier."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from faststream.kafka import KafkaBroker

from schemas import (
    AbsenceRecorded,
    Envelope,
    ExamResultPosted,
    FinalMarkEvent,
    FinalMarkPosted,
    MarkEvent,
    MarkPosted,
    NotificationRequested,
    Topics,
)
from schemas.digest import WeeklyDigestCompiled
from services.consent.domain import route_event
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
    async def handle(event: Envelope[Any]) -> None:
        if await registry.processed.is_processed(event.event_id):
            return
        decisions = await route_event(
            event, registry=registry, publish=publish, now=datetime.now(UTC)
        )
        # Recorded after publishing: a crash in between republishes the same requests, which
        # the notifier folds by their dedupe key.
        await registry.processed.mark(event.event_id)
        log.info(
            "%s %s: %d of %d recipient channels notified",
            event.type, event.event_id, sum(d.notify for d in decisions), len(decisions),
        )  # fmt: skip

    @subscribe(broker, topics, MarkPosted, group_id=group_id)
    async def on_mark(event: MarkEvent) -> None:
        """A mark posted, corrected or retracted."""
        await handle(event)

    @subscribe(broker, topics, AbsenceRecorded, group_id=group_id)
    async def on_absence(event: AbsenceRecorded) -> None:
        await handle(event)

    @subscribe(broker, topics, FinalMarkPosted, group_id=group_id)
    async def on_final_mark(event: FinalMarkEvent) -> None:
        """A final mark posted or deferred: due within 24 hours of being obtained."""
        await handle(event)

    @subscribe(broker, topics, ExamResultPosted, group_id=group_id)
    async def on_exam_result(event: ExamResultPosted) -> None:
        await handle(event)

    @subscribe(broker, topics, WeeklyDigestCompiled, group_id=group_id)
    async def on_weekly_digest(event: WeeklyDigestCompiled) -> None:
        """A student's week, compiled by the digest service, for whoever wants it by e-mail."""
        await handle(event)
