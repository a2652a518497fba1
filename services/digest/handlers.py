"""Kafka entrypoints of the digest service: its read model."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
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
    MarkRetracted,
    PeriodChanged,
    ReferenceEvent,
    SchoolChanged,
    StudentChanged,
    TeacherChanged,
    Topics,
)
from schemas.classwork import (
    AssessmentCancelled,
    AssessmentEvent,
    AssessmentFacts,
    AssessmentPlanned,
    AssessmentRescheduled,
    HomeworkAssigned,
    HomeworkCorrected,
    HomeworkEvent,
    HomeworkFacts,
    HomeworkRetracted,
)
from schemas.consent import (
    ConsentChange,
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    PreferencesChanged,
)
from schemas.curriculum import (
    LessonEvent,
    LessonHeld,
    LessonHeldFacts,
    LessonHeldRemoved,
    StudyPlanChanged,
    StudyPlanChangedPayload,
)
from schemas.timetable import (
    BellScheduleChanged,
    BellScheduleChangedPayload,
    EnrolmentEvent,
    GroupChanged,
    GroupChangedPayload,
    IndividualCurriculumChangedPayload,
    LessonChangeCorrected,
    LessonChangeEvent,
    LessonChangeFacts,
    LessonChangePosted,
    LessonChangeRetracted,
    SchoolCalendarChanged,
    SchoolCalendarChangedPayload,
    TimetableEvent,
    TimetableLessonChanged,
    TimetableLessonFacts,
    TimetableLessonRemoved,
)
from services.digest.domain import Period
from services.digest.store import (
    MongoDigestStore,
    absence_slot,
    exam_result_slot,
    final_mark_slot,
    mark_slot,
)
from services.digest.week_store import MongoWeekStore, Record, record
from services.shared.kafka import DeadLetters, batch_subscriptions, subscribe

log = logging.getLogger(__name__)


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    store: MongoDigestStore,
    week_store: MongoWeekStore,
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
                    p.school_id, Period(p.period_id, p.name, p.starts_on, p.ends_on, p.school_year)
                )
            case StudentChanged(payload=p):
                await store.put_student(p)
            case TeacherChanged(payload=p):
                assignments = [(a.class_id, a.subject_id) for a in p.assignments]
                await store.put_teacher(p.school_id, p.teacher_id, assignments, p.name)

    @subscribe(broker, topics, ConsentRevoked, group_id=group_id)
    async def on_consent_change(change: ConsentChange) -> None:
        """Who declared paper only (they get the weekly printout), and whose guardian a
        recipient is (a parent reads only their own children's week)."""
        match change:
            case PreferencesChanged(payload=p):
                await store.set_paper_only(p.school_id, p.recipient_id, p.student_ids, p.paper_only)
            case ConsentGranted(payload=p):
                await week_store.link_guardian(p.school_id, p.recipient_id, p.student_id)
            case ConsentRevoked(payload=p) | ConsentRefused(payload=p):
                await week_store.unlink_guardian(p.school_id, p.recipient_id, p.student_id)

    register_week_handlers(batches_of, week_store)


BatchesOf = Callable[[type[Envelope[Any]], Any], Callable[[Callable[..., Awaitable[None]]], Any]]


# Clause 4's topics: each read as the union of its events.
WEEK_TOPICS: tuple[tuple[type[Envelope[Any]], Any], ...] = (
    (TimetableLessonChanged, TimetableEvent),
    (LessonChangePosted, LessonChangeEvent),
    (AssessmentPlanned, AssessmentEvent),
    (HomeworkAssigned, HomeworkEvent),
    (SchoolCalendarChanged, SchoolCalendarChanged),
    (GroupChanged, EnrolmentEvent),
    # Clause 7 (issue 15): the curriculum and the lessons held, for the school's reports.
    (StudyPlanChanged, StudyPlanChanged),
    (LessonHeld, LessonEvent),
)


def register_week_handlers(batches_of: BatchesOf, week_store: MongoWeekStore) -> None:
    """Clause 4's facts, each record into its own document (`week_store`), in batches."""
    for event, union in WEEK_TOPICS:

        async def on_records(events: list[Any]) -> None:
            await week_store.put([week_record(e) for e in events])

        on_records.__name__ = f"on_{event.topic.split('.')[1].replace('-', '_')}"
        batches_of(event, union)(on_records)


def week_record(event: Any) -> Record:
    """The record an event of clause 4 is about, as it is now; `gone` for a removal, a
    retraction or a cancellation."""
    p = event.payload
    match event:
        case BellScheduleChanged():
            return record("bell_schedules", p.bell_schedule_id, p, BellScheduleChangedPayload)
        case TimetableLessonChanged() | TimetableLessonRemoved():
            gone = isinstance(event, TimetableLessonRemoved)
            return record("timetable_lessons", p.lesson_id, p, TimetableLessonFacts, gone=gone)
        case LessonChangePosted() | LessonChangeCorrected() | LessonChangeRetracted():
            gone = isinstance(event, LessonChangeRetracted)
            return record("lesson_changes", p.change_id, p, LessonChangeFacts, gone=gone)
        case AssessmentPlanned() | AssessmentRescheduled() | AssessmentCancelled():
            gone = isinstance(event, AssessmentCancelled)
            return record("assessments", p.assessment_id, p, AssessmentFacts, gone=gone)
        case HomeworkAssigned() | HomeworkCorrected() | HomeworkRetracted():
            gone = isinstance(event, HomeworkRetracted)
            return record("homework", p.homework_id, p, HomeworkFacts, gone=gone)
        case SchoolCalendarChanged():
            return record("calendars", p.school_year, p, SchoolCalendarChangedPayload)
        case GroupChanged():
            return record("groups", f"{p.class_id}/{p.group_id}", p, GroupChangedPayload)
        case StudyPlanChanged():
            return record("study_plans", p.plan_id, p, StudyPlanChangedPayload)
        case LessonHeld() | LessonHeldRemoved():
            gone = isinstance(event, LessonHeldRemoved)
            return record("lessons_held", p.lesson_id, p, LessonHeldFacts, gone=gone)
        case _:
            key = f"{p.student_id}/{p.school_year}"
            return record("curricula", key, p, IndividualCurriculumChangedPayload)
