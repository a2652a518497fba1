"""Turning journal items into events that carry every name a notification needs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import (
    AbsenceRecorded,
    ClassChanged,
    Envelope,
    ExamResultPosted,
    FinalMarkDeferred,
    FinalMarkPosted,
    MarkCorrected,
    MarkPosted,
    MarkRetracted,
    PeriodChanged,
    SchoolChanged,
    StudentChanged,
    TeacherChanged,
)
from schemas.journal import (
    AbsenceRecordedPayload,
    ClassChangedPayload,
    ExamResultPostedPayload,
    FinalMarkDeferredPayload,
    FinalMarkPostedPayload,
    MarkCorrectedPayload,
    MarkPostedPayload,
    MarkRetractedPayload,
    PeriodChangedPayload,
    SchoolChangedPayload,
    StudentChangedPayload,
    TeacherChangedPayload,
    TeachingAssignment,
)
from services.grades.curriculum_items import StudyPlanIn
from services.grades.items import (
    AbsenceItem,
    ClassIn,
    ExamResultItem,
    FieldError,
    FinalMarkItem,
    JournalItem,
    MarkItem,
    MarkRetractionItem,
    PeriodIn,
    SchoolIn,
    StudentIn,
    SubjectIn,
    TeacherIn,
)
from services.grades.week_references import (
    BellScheduleIn,
    GroupIn,
    IndividualCurriculumIn,
    SchoolCalendarIn,
)

PRODUCER = "grades"


@dataclass
class ReferenceBook:
    """The school's reference data a batch needs, looked up once for the whole batch."""

    school: SchoolIn
    periods: dict[str, PeriodIn] = field(default_factory=dict)
    classes: dict[str, ClassIn] = field(default_factory=dict)
    students: dict[str, StudentIn] = field(default_factory=dict)
    subjects: dict[str, SubjectIn] = field(default_factory=dict)
    teachers: dict[str, TeacherIn] = field(default_factory=dict)
    groups: dict[str, GroupIn] = field(default_factory=dict)
    curricula: dict[str, IndividualCurriculumIn] = field(default_factory=dict)  # by student
    bell_schedules: dict[str, BellScheduleIn] = field(default_factory=dict)
    calendars: dict[str, SchoolCalendarIn] = field(default_factory=dict)  # by first year
    study_plans: dict[str, StudyPlanIn] = field(default_factory=dict)


class RejectedError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.error = FieldError(field=field, reason=reason)


@dataclass(frozen=True)
class Context:
    book: ReferenceBook
    school_id: str
    now: datetime
    correlation_id: uuid.UUID
    # False: the batch was loaded with a schedule, not news (copied into the facts that say).
    announce: bool = True
    # Timetable lessons as stored, by id: those the batch's lesson changes name.
    lessons: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def new(self, event_type: type[Envelope[Any]], payload: Any) -> Envelope[Any]:
        return event_type.new(
            payload, producer=PRODUCER, occurred_at=self.now, correlation_id=self.correlation_id
        )


def event_for(
    item: JournalItem, previous: dict[str, Any] | None, context: Context, *, record_version: int
) -> Envelope[Any]:
    """The event for a new item (`previous` is None) or a correction of `previous`, which
    makes the record's version `record_version`."""
    version = {"record_version": record_version}
    match item:
        case MarkItem():
            mark = {**_mark_facts(item, context), **version}
            if previous is None:
                return context.new(MarkPosted, MarkPostedPayload(**mark))
            return context.new(
                MarkCorrected, MarkCorrectedPayload(**mark, previous_value=previous["value"])
            )
        case AbsenceItem():
            return context.new(AbsenceRecorded, _absence(item, context, version))
        case FinalMarkItem():
            return _final_mark(item, previous, context, version)
        case ExamResultItem():
            return context.new(ExamResultPosted, _exam_result(item, previous, context, version))
        case MarkRetractionItem():
            raise TypeError("a retraction is decided against the stored mark")


def mark_retracted(
    mark: MarkItem, reason: str | None, context: Context, *, record_version: int
) -> Envelope[Any]:
    payload = MarkRetractedPayload(
        **_mark_facts(mark, context), reason=reason, record_version=record_version
    )
    return context.new(MarkRetracted, payload)


def _student(student_id: str, context: Context) -> dict[str, Any]:
    student = context.book.students.get(student_id)
    if student is None:
        raise RejectedError("student_id", "no such student in this school")
    school_class = context.book.classes[student.class_id]
    return {
        "student_id": student_id,
        "school_id": context.school_id,
        "student_name": student.name,
        "class_name": school_class.name,
    }


def _subject_name(subject_id: str, context: Context) -> str:
    subject = context.book.subjects.get(subject_id)
    if subject is None:
        raise RejectedError("subject_id", "no such subject in this school")
    return subject.name


def _mark_facts(item: MarkItem, context: Context) -> dict[str, Any]:
    teacher = context.book.teachers.get(item.teacher_id)
    if teacher is None:
        raise RejectedError("teacher_id", "no such teacher in this school")
    if item.value not in context.book.school.mark_values:
        raise RejectedError("value", "not on this school's mark scale")
    return {
        **_student(item.student_id, context),
        "mark_id": item.mark_id,
        "subject_id": item.subject_id,
        "subject_name": _subject_name(item.subject_id, context),
        "teacher_name": teacher.name,
        "lesson_date": item.lesson_date,
        "value": item.value,
        "work_type": item.work_type,
        "weight": item.weight,
        "comment": item.comment,
    }


def _absence(
    item: AbsenceItem, context: Context, version: dict[str, int]
) -> AbsenceRecordedPayload:
    label = context.book.school.absence_codes.get(item.code)
    if label is None:
        raise RejectedError("code", "not one of this school's absence codes")
    return AbsenceRecordedPayload(
        **_student(item.student_id, context),
        absence_id=item.absence_id,
        subject_id=item.subject_id,
        subject_name=_subject_name(item.subject_id, context),
        lesson_date=item.lesson_date,
        lesson_number=item.lesson_number,
        code=item.code,
        code_label=label,
        **version,
    )


def _final_mark(
    item: FinalMarkItem, previous: dict[str, Any] | None, context: Context, version: dict[str, int]
) -> Envelope[Any]:
    period = context.book.periods.get(item.period_id)
    if period is None:
        raise RejectedError("period_id", "no such attestation period in this school")
    common = {
        **_student(item.student_id, context),
        "subject_id": item.subject_id,
        "subject_name": _subject_name(item.subject_id, context),
        "period_id": item.period_id,
        "period_name": period.name,
        "period_kind": period.period_kind,
        "obtained_at": item.obtained_at,
        "final_mark_id": item.final_mark_id,
        **version,
    }
    if item.deferred_until is not None:
        if item.deferred_until < period.ends_on:
            raise RejectedError("deferred_until", "a deferral ends after the period does")
        payload = FinalMarkDeferredPayload(
            **common, deferred_until=item.deferred_until, reason=item.deferral_reason
        )
        return context.new(FinalMarkDeferred, payload)
    assert item.value is not None  # parse_item guarantees value xor deferred_until
    previous_value = previous.get("value") if previous else None
    return context.new(
        FinalMarkPosted,
        FinalMarkPostedPayload(**common, value=item.value, previous_value=previous_value),
    )


def _exam_result(
    item: ExamResultItem, previous: dict[str, Any] | None, context: Context, version: dict[str, int]
) -> ExamResultPostedPayload:
    subject_name = _subject_name(item.subject_id, context) if item.subject_id else None
    return ExamResultPostedPayload(
        **_student(item.student_id, context),
        result_id=item.result_id,
        result_kind=item.result_kind,
        title=item.title,
        subject_id=item.subject_id,
        subject_name=subject_name,
        value=item.value,
        obtained_at=item.obtained_at,
        previous_value=previous["value"] if previous else None,
        **version,
    )


def reference_event(
    kind: str, record_id: str, record: Any, context: Context
) -> Envelope[Any] | None:
    """The event other services need when reference data changes (subjects need none: their
    names travel inside every fact)."""
    school_id = context.school_id
    match record:
        case SchoolIn():
            payload: Any = SchoolChangedPayload(
                school_id=school_id, name=record.name, timezone=record.timezone
            )
            return context.new(SchoolChanged, payload)
        case PeriodIn():
            payload = PeriodChangedPayload(
                school_id=school_id, period_id=record_id, **record.model_dump()
            )
            return context.new(PeriodChanged, payload)
        case ClassIn():
            payload = ClassChangedPayload(
                school_id=school_id, class_id=record_id, **record.model_dump()
            )
            return context.new(ClassChanged, payload)
        case StudentIn():
            school_class = context.book.classes.get(record.class_id)
            if school_class is None:
                raise RejectedError("class_id", "no such class in this school")
            payload = StudentChangedPayload(
                student_id=record_id,
                school_id=school_id,
                name=record.name,
                class_id=record.class_id,
                class_name=school_class.name,
                education_level=school_class.education_level,
            )
            return context.new(StudentChanged, payload)
        case TeacherIn():
            for index, assignment in enumerate(record.assignments):
                if assignment.class_id not in context.book.classes:
                    raise RejectedError(f"assignments.{index}.class_id", "no such class")
                if assignment.subject_id not in context.book.subjects:
                    raise RejectedError(f"assignments.{index}.subject_id", "no such subject")
            payload = TeacherChangedPayload(
                school_id=school_id,
                teacher_id=record_id,
                name=record.name,
                assignments=tuple(
                    TeachingAssignment(**assignment.model_dump())
                    for assignment in record.assignments
                ),
            )
            return context.new(TeacherChanged, payload)
    return None
