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
from schemas.classwork import (
    AssessmentEvent,
    AssessmentPlanned,
    HomeworkAssigned,
    HomeworkEvent,
    RecommendationEvent,
    RecommendationPosted,
)
from schemas.digest import WeeklyDigestCompiled
from schemas.journal import ReferenceEvent, SchoolChanged
from schemas.timetable import EnrolmentEvent, GroupChanged, LessonChangeEvent, LessonChangePosted
from services.consent.domain import route_events
from services.consent.news import route_class_events
from services.consent.roster import MongoRoster
from services.consent.store import MongoConsentRegistry
from services.shared.kafka import DeadLetters, batch_subscriptions

log = logging.getLogger(__name__)


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    registry: MongoConsentRegistry,
    roster: MongoRoster,
    publish_all: Callable[[Sequence[NotificationRequested]], Awaitable[None]],
    group_id: str,
    dead_letters: DeadLetters,
) -> None:
    async def route(events: Sequence[Envelope[Any]], *, to_classes: bool = False) -> None:
        """A student's facts to their recipients; a class's (`to_classes`) to the recipients
        of the students its roster says it concerns."""
        if not events:
            return
        now = datetime.now(UTC)
        if to_classes:
            decisions = await route_class_events(
                events, roster=roster, registry=registry, publish_all=publish_all, now=now
            )
        else:
            decisions = await route_events(
                events, registry=registry, publish_all=publish_all, now=now
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

    # Clause 4. Timetable and calendar topics are never news: not read here.

    @batches_of(SchoolChanged, ReferenceEvent)
    async def on_reference(events: list[ReferenceEvent]) -> None:
        """The roster: each student's class and name, each school's time zone."""
        await roster.apply(events)

    @batches_of(GroupChanged, EnrolmentEvent)
    async def on_enrolment(events: list[EnrolmentEvent]) -> None:
        """The roster: each group's students, each individual curriculum."""
        await roster.apply(events)

    @batches_of(LessonChangePosted, LessonChangeEvent)
    async def on_lesson_changes(events: list[LessonChangeEvent]) -> None:
        """Substitutions, moves, cancellations, extra lessons: to the class's or group's
        families, by e-mail and SMS only for today or tomorrow."""
        await route(events, to_classes=True)

    @batches_of(AssessmentPlanned, AssessmentEvent)
    async def on_assessments(events: list[AssessmentEvent]) -> None:
        """A new, moved or cancelled test date."""
        await route(events, to_classes=True)

    @batches_of(HomeworkAssigned, HomeworkEvent)
    async def on_homework(events: list[HomeworkEvent]) -> None:
        await route(events, to_classes=True)

    @batches_of(RecommendationPosted, RecommendationEvent)
    async def on_recommendations(events: list[RecommendationEvent]) -> None:
        """A teacher's recommendation to one student: to that student's recipients."""
        await route(events)
