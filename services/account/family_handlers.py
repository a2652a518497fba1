"""Kafka entrypoints of the account's family read model: each topic read as the union of its
events, in batches (a poison message goes to its dead-letter topic, the rest of the batch is
handled), each event turned into the record it is about."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from schemas import Topics
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
    RecommendationCorrected,
    RecommendationEvent,
    RecommendationFacts,
    RecommendationPosted,
    RecommendationRetracted,
)
from schemas.digest import WeeklyDigestCompiled, WeeklyDigestPayload
from schemas.envelope import Envelope
from schemas.journal import (
    AbsenceRecorded,
    AbsenceRecordedPayload,
    ClassChanged,
    ExamResultPosted,
    ExamResultPostedPayload,
    FinalMarkDeferred,
    FinalMarkDeferredPayload,
    FinalMarkEvent,
    FinalMarkPosted,
    FinalMarkPostedPayload,
    MarkCorrected,
    MarkEvent,
    MarkFacts,
    MarkPosted,
    MarkRetracted,
    PeriodChanged,
    PeriodChangedPayload,
    ReferenceEvent,
    SchoolChanged,
    SchoolChangedPayload,
    StudentChanged,
    StudentChangedPayload,
    TeacherChanged,
    TeacherChangedPayload,
)
from schemas.notify import NotificationRequested
from schemas.timetable import (
    BellScheduleChanged,
    BellScheduleChangedPayload,
    EnrolmentEvent,
    GroupChanged,
    GroupChangedPayload,
    IndividualCurriculumChanged,
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
from services.account.family_store import MongoFamilyStore, Record, record
from services.shared.kafka import DeadLetters, batch_subscriptions

# Each topic the family read model reads (its first event type), and the union it reads.
FAMILY_TOPICS: tuple[tuple[type[Envelope[Any]], Any], ...] = (
    (MarkPosted, MarkEvent),
    (AbsenceRecorded, AbsenceRecorded),
    (FinalMarkPosted, FinalMarkEvent),
    (ExamResultPosted, ExamResultPosted),
    (SchoolChanged, ReferenceEvent),
    (WeeklyDigestCompiled, WeeklyDigestCompiled),
    (TimetableLessonChanged, TimetableEvent),
    (LessonChangePosted, LessonChangeEvent),
    (AssessmentPlanned, AssessmentEvent),
    (HomeworkAssigned, HomeworkEvent),
    (SchoolCalendarChanged, SchoolCalendarChanged),
    (GroupChanged, EnrolmentEvent),
    (RecommendationPosted, RecommendationEvent),
)
# The events whose topics the account creates before subscribing.
FAMILY_EVENTS: tuple[type[Envelope[Any]], ...] = (
    *(event for event, _ in FAMILY_TOPICS),
    NotificationRequested,
)


def register_family_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    store: MongoFamilyStore,
    group_id: str,
    dead_letters: DeadLetters,
) -> None:
    """Every record is written under its school and journal id, by version: replaying a topic
    (a redelivery, a rebuild from scratch) leaves the read model as it was."""
    batches_of = batch_subscriptions(broker, topics, group_id=group_id, dead_letters=dead_letters)
    for event, union in FAMILY_TOPICS:

        async def on_records(events: list[Any]) -> None:
            await store.put([r for e in events if (r := family_record(e)) is not None])

        on_records.__name__ = f"on_{event.topic.split('.')[1].replace('-', '_')}"
        batches_of(event, union)(on_records)

    @batches_of(NotificationRequested, NotificationRequested)
    async def on_requests(events: list[NotificationRequested]) -> None:
        """The family's inbox: the notices asked for on the account's own channel."""
        await store.put_inbox(
            [(e.payload, e.occurred_at) for e in events if e.payload.channel == "inbox"]
        )


def family_record(event: Any) -> Record | None:
    """The record an event is about, as it is now; `gone` for a retraction, a removal or a
    cancellation. None for what a family is not shown (a class's own reference record)."""
    p = event.payload
    match event:
        case MarkPosted() | MarkCorrected() | MarkRetracted():
            gone = isinstance(event, MarkRetracted)
            return record("student", "mark", p.mark_id, p, MarkFacts, gone=gone)
        case AbsenceRecorded():
            return record("student", "absence", p.absence_id, p, AbsenceRecordedPayload)
        case FinalMarkPosted():
            return record("student", "final", p.final_mark_id, p, FinalMarkPostedPayload)
        case FinalMarkDeferred():
            return record("student", "final", p.final_mark_id, p, FinalMarkDeferredPayload)
        case ExamResultPosted():
            return record("student", "exam", p.result_id, p, ExamResultPostedPayload)
        case RecommendationPosted() | RecommendationCorrected() | RecommendationRetracted():
            gone = isinstance(event, RecommendationRetracted)
            rid = p.recommendation_id
            return record("student", "recommendation", rid, p, RecommendationFacts, gone=gone)
        case WeeklyDigestCompiled():
            return digest_record(p)
        case StudentChanged():
            # The student's one record in their class: a change of class moves it.
            return record("class", "student", p.student_id, p, StudentChangedPayload)
        case GroupChanged():
            rid = f"{p.class_id}/{p.group_id}"
            return record("class", "group", rid, p, GroupChangedPayload)
        case IndividualCurriculumChanged():
            rid = f"{p.student_id}/{p.school_year}"
            return record("class", "curriculum", rid, p, IndividualCurriculumChangedPayload)
        case TimetableLessonChanged() | TimetableLessonRemoved():
            gone = isinstance(event, TimetableLessonRemoved)
            return record("class", "lesson", p.lesson_id, p, TimetableLessonFacts, gone=gone)
        case LessonChangePosted() | LessonChangeCorrected() | LessonChangeRetracted():
            gone = isinstance(event, LessonChangeRetracted)
            return record("class", "change", p.change_id, p, LessonChangeFacts, gone=gone)
        case AssessmentPlanned() | AssessmentRescheduled() | AssessmentCancelled():
            gone = isinstance(event, AssessmentCancelled)
            rid = p.assessment_id
            return record("class", "assessment", rid, p, AssessmentFacts, gone=gone)
        case HomeworkAssigned() | HomeworkCorrected() | HomeworkRetracted():
            gone = isinstance(event, HomeworkRetracted)
            return record("class", "homework", p.homework_id, p, HomeworkFacts, gone=gone)
        case SchoolChanged():
            return record("school", "school", p.school_id, p, SchoolChangedPayload)
        case PeriodChanged():
            return record("school", "period", p.period_id, p, PeriodChangedPayload)
        case TeacherChanged():
            return record("school", "teacher", p.teacher_id, p, TeacherChangedPayload)
        case SchoolCalendarChanged():
            return record("school", "calendar", p.school_year, p, SchoolCalendarChangedPayload)
        case BellScheduleChanged():
            rid = p.bell_schedule_id
            return record("school", "bells", rid, p, BellScheduleChangedPayload)
        case ClassChanged():
            return None
    raise TypeError(f"not an event of the family read model: {type(event).__name__}")


def digest_record(digest: WeeklyDigestPayload) -> Record | None:
    """The digest's latest week for its period: the averages and forecast the account shows
    (a later week replaces an earlier one, whatever order they come in). None without a
    period (nothing to forecast)."""
    if digest.period_name is None:
        return None
    year, number = digest.week.split("-W")
    week = int(year) * 100 + int(number)
    rid = f"{digest.student_id}/{digest.period_name}"
    return record("student", "digest", rid, digest, WeeklyDigestPayload, version=week)
