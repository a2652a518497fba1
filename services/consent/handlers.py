"""Kafka entrypoints of the consent service: the filter between the journal and the notifier.

Each topic is read in batches: the recipients of a whole batch are looked up at once, its
decisions stored in one insert and its requests published together.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
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
from services.consent.domain import route_events
from services.consent.store import MongoConsentRegistry
from services.shared.kafka import DeadLetters, batch_subscriptions

log = logging.getLogger(__name__)


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    registry: MongoConsentRegistry,
    publish_all: Callable[[Sequence[NotificationRequested]], Awaitable[None]],
    group_id: str,
    dead_letters: DeadLetters,
) -> None:
    async def route(events: Sequence[Envelope[Any]]) -> None:
        if not events:
            return
        decisions = await route_events(
            events, registry=registry, publish_all=publish_all, now=datetime.now(UTC)
        )
        log.info(
            "%d events: %d of %d recipient channels notified",
            len(events),
            sum(d.notify for d in decisions),
            len(decisions),
        )

    batches_of = batch_subscriptions(broker, topics, group_id=group_id, dead_letters=dead_letters)

    @batches_of(MarkPosted, MarkEvent)
    async def on_marks(events: list[MarkEvent]) -> None:
        """Marks posted, corrected or retracted."""
        await route(events)

    @batches_of(AbsenceRecorded, AbsenceRecorded)
    async def on_absences(events: list[AbsenceRecorded]) -> None:
        await route(events)

    @batches_of(FinalMarkPosted, FinalMarkEvent)
    async def on_final_marks(events: list[FinalMarkEvent]) -> None:
        """Final marks posted or deferred: due within 24 hours of being obtained."""
        await route(events)

    @batches_of(ExamResultPosted, ExamResultPosted)
    async def on_exam_results(events: list[ExamResultPosted]) -> None:
        await route(events)

    @batches_of(WeeklyDigestCompiled, WeeklyDigestCompiled)
    async def on_weekly_digests(events: list[WeeklyDigestCompiled]) -> None:
        """Students' weeks, compiled by the digest service, for whoever wants them by e-mail."""
        await route(events)
