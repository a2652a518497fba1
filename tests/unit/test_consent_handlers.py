"""Consent's Kafka wiring for clause 4, on FastStream's in-memory broker: which topics it reads,
and that a class's fact goes through the roster to the families' requests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry

from schemas import NotificationRequested, Topics
from schemas.timetable import LessonChangePosted
from services.consent.domain import Decision, RecipientFile
from services.consent.handlers import register_handlers
from services.consent.news import Enrolment
from services.shared.kafka import DeadLetters
from tests.builders import CONSENTING, a_lesson_change, a_student_changed

MOSCOW = ZoneInfo("Europe/Moscow")


class FakeRoster:
    def __init__(self) -> None:
        self.applied: list[Any] = []

    async def apply(self, events: list[Any]) -> None:
        self.applied.extend(events)

    async def enrolment(self, school_id: str, class_id: str) -> Enrolment:
        return Enrolment(
            students={"st-1": "Иванов Иван"},
            groups={"5a-en-1": frozenset({"st-1"})},
            curricula={},
        )

    async def zone(self, school_id: str) -> ZoneInfo:
        return MOSCOW


class FakeRegistry:
    def __init__(self) -> None:
        self.decided: list[tuple[Any, list[Decision]]] = []

    async def files_for_students(
        self, students: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list[RecipientFile]]:
        return {key: [CONSENTING] for key in students if key == ("school-1", "st-1")}

    async def record_decisions(self, decided: list[tuple[Any, list[Decision]]]) -> None:
        self.decided.extend(decided)


def wired() -> tuple[KafkaBroker, FakeRoster, FakeRegistry, list[NotificationRequested]]:
    broker, topics = KafkaBroker(), Topics()
    roster, registry, published = FakeRoster(), FakeRegistry(), []

    async def publish_all(requests: Any) -> None:
        published.extend(requests)

    register_handlers(
        broker,
        topics,
        registry=registry,  # type: ignore[arg-type]
        roster=roster,  # type: ignore[arg-type]
        publish_all=publish_all,
        group_id="consent",
        dead_letters=DeadLetters(broker, topics, CollectorRegistry()),
    )
    return broker, roster, registry, published


def test_consent_reads_the_roster_and_the_news_but_never_the_timetable_or_calendar() -> None:
    broker, *_ = wired()
    read = {topic.name for s in broker.subscribers for topic in s.topics}  # type: ignore[attr-defined]
    assert {
        "journal.reference.v1",
        "journal.enrolment.v1",
        "journal.lesson-changes.v1",
        "journal.assessments.v1",
        "journal.homework.v1",
        "journal.recommendations.v1",
    } <= read
    assert not read & {"journal.timetable.v1", "journal.calendar.v1"}


async def test_a_lesson_change_goes_through_the_roster_to_the_familys_requests() -> None:
    broker, roster, registry, published = wired()
    tomorrow = datetime.now(MOSCOW).date() + timedelta(days=1)
    change = LessonChangePosted.new(a_lesson_change(lesson_date=tomorrow), producer="grades")
    student = a_student_changed("st-1", "5a", "Иванов Иван")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(student.model_dump(mode="json"), topic=student.topic)
        await test_broker.publish(change.model_dump(mode="json"), topic=change.topic)
        await asyncio.sleep(0.1)
    assert [event.event_id for event in roster.applied] == [student.event_id]
    assert {(r.payload.recipient_id, r.payload.channel) for r in published} == {
        ("g-1", "email"),
        ("g-1", "sms"),
        ("g-1", "inbox"),
    }
    assert {r.payload.student_ids for r in published} == {("st-1",)}
    assert [event.event_id for event, _ in registry.decided] == [change.event_id]
