"""Kafka entrypoints of the digest service: its read model."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from schemas import (
    AbsenceRecorded,
    ExamResultPosted,
    FinalMarkEvent,
    FinalMarkPosted,
    MarkEvent,
    MarkPosted,
    MarkRetracted,
    PeriodChanged,
    ReferenceEvent,
    SchoolChanged,
    StudentChanged,
    TeacherChanged,
    Topics,
)
from schemas.consent import ConsentChange, ConsentRevoked, PreferencesChanged
from services.digest.domain import Period
from services.digest.store import (
    MongoDigestStore,
    absence_slot,
    exam_result_slot,
    final_mark_slot,
    mark_slot,
)
from services.shared.kafka import DeadLetters, batch_subscriptions, subscribe

log = logging.getLogger(__name__)


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    store: MongoDigestStore,
    group_id: str,
    dead_letters: DeadLetters,
) -> None:
    """Every handler writes to a slot keyed by the journal's own id: replaying a topic (a
    redelivery, or a rebuild from scratch) leaves the read model as it was. The journal's
    facts come in batches, written with one update per student."""

    batches_of = batch_subscriptions(broker, topics, group_id=group_id, dead_letters=dead_letters)

    @batches_of(MarkPosted, MarkEvent)
    async def on_marks(events: list[MarkEvent]) -> None:
        await store.apply(
            [mark_slot(e.payload, retracted=isinstance(e, MarkRetracted)) for e in events]
        )

    @batches_of(AbsenceRecorded, AbsenceRecorded)
    async def on_absences(events: list[AbsenceRecorded]) -> None:
        await store.apply([absence_slot(event.payload) for event in events])

    @batches_of(FinalMarkPosted, FinalMarkEvent)
    async def on_final_marks(events: list[FinalMarkEvent]) -> None:
        await store.apply([final_mark_slot(event.payload) for event in events])

    @batches_of(ExamResultPosted, ExamResultPosted)
    async def on_exam_results(events: list[ExamResultPosted]) -> None:
        await store.apply([exam_result_slot(event.payload) for event in events])

    @subscribe(broker, topics, SchoolChanged, group_id=group_id)
    async def on_reference(event: ReferenceEvent) -> None:
        """Schools (name, time zone), periods (for the forecast), students (their class) and
        teachers (what they teach: what they may read)."""
        match event:
            case SchoolChanged(payload=p, occurred_at=registered_at):
                await store.put_school(p.school_id, p.name, p.timezone, registered_at)
            case PeriodChanged(payload=p):
                await store.put_period(
                    p.school_id, Period(p.period_id, p.name, p.starts_on, p.ends_on)
                )
            case StudentChanged(payload=p):
                await store.put_student(p)
            case TeacherChanged(payload=p):
                assignments = [(a.class_id, a.subject_id) for a in p.assignments]
                await store.put_teacher(p.school_id, p.teacher_id, assignments)

    @subscribe(broker, topics, ConsentRevoked, group_id=group_id)
    async def on_consent_change(change: ConsentChange) -> None:
        """Only who declared paper only matters here: they get the weekly printout."""
        if isinstance(change, PreferencesChanged):
            p = change.payload
            await store.set_paper_only(p.school_id, p.recipient_id, p.student_ids, p.paper_only)
