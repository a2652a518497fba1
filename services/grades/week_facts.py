"""Clause 4's events: the school week's reference records and items, with every name a notice
needs (class, level, group, subject, teachers, student) looked up in the reference book."""

from __future__ import annotations

from typing import Any

from schemas.classwork import (
    AssessmentCancelled,
    AssessmentCancelledPayload,
    AssessmentPlanned,
    AssessmentPlannedPayload,
    AssessmentRescheduled,
    AssessmentRescheduledPayload,
    Attachment,
    HomeworkAssigned,
    HomeworkAssignedPayload,
    HomeworkCorrected,
    HomeworkCorrectedPayload,
    HomeworkRetracted,
    HomeworkRetractedPayload,
    RecommendationCorrected,
    RecommendationCorrectedPayload,
    RecommendationPosted,
    RecommendationPostedPayload,
    RecommendationRetracted,
    RecommendationRetractedPayload,
)
from schemas.envelope import Envelope
from schemas.timetable import (
    Bell,
    BellScheduleChanged,
    BellScheduleChangedPayload,
    CurriculumSubject,
    GroupChanged,
    GroupChangedPayload,
    IndividualCurriculumChanged,
    IndividualCurriculumChangedPayload,
    LessonChangeCorrected,
    LessonChangeCorrectedPayload,
    LessonChangePosted,
    LessonChangePostedPayload,
    LessonChangeRetracted,
    LessonChangeRetractedPayload,
    NonSchoolDays,
    SchoolCalendarChanged,
    SchoolCalendarChangedPayload,
    TimetableLessonChanged,
    TimetableLessonChangedPayload,
    TimetableLessonRemoved,
    TimetableLessonRemovedPayload,
)
from services.grades.facts import Context, RejectedError
from services.grades.week_items import (
    AssessmentItem,
    HomeworkItem,
    LessonChangeItem,
    RecommendationItem,
    TimetableLessonItem,
)
from services.grades.week_references import (
    BellScheduleIn,
    GroupIn,
    IndividualCurriculumIn,
    SchoolCalendarIn,
)

# The reference kinds of clause 4 (the record's key kind → its input model).
WEEK_REFERENCES = {
    "group": GroupIn,
    "curriculum": IndividualCurriculumIn,
    "bell_schedule": BellScheduleIn,
    "calendar": SchoolCalendarIn,
}


def calendar_year_error(year: int, calendar: SchoolCalendarIn) -> RejectedError | None:
    """A calendar is kept under the first calendar year of its school year."""
    if calendar.school_year != f"{year}/{year + 1}":
        return RejectedError("school_year", f"must be {year}/{year + 1}, the year of the path")
    return None


# Names from the reference book; an unknown id is the journal's error, named by its field.


def class_facts(
    class_id: str, group_id: str | None, context: Context, *, record_version: int | None
) -> dict[str, Any]:
    school_class = context.book.classes.get(class_id)
    if school_class is None:
        raise RejectedError("class_id", "no such class in this school")
    facts: dict[str, Any] = {
        "school_id": context.school_id,
        "class_id": class_id,
        "class_name": school_class.name,
        "education_level": school_class.education_level,
        "record_version": record_version,
    }
    if group_id is not None:
        group = context.book.groups.get(group_id)
        if group is None or group.class_id != class_id:
            raise RejectedError("group_id", "no such group in this class")
        facts |= {"group_id": group_id, "group_name": group.name}
    return facts


def subject_name(subject_id: str, context: Context, field: str = "subject_id") -> str:
    subject = context.book.subjects.get(subject_id)
    if subject is None:
        raise RejectedError(field, "no such subject in this school")
    return subject.name


def teacher_name(teacher_id: str, context: Context, field: str = "teacher_id") -> str:
    teacher = context.book.teachers.get(teacher_id)
    if teacher is None:
        raise RejectedError(field, "no such teacher in this school")
    return teacher.name


def _known(ids: tuple[str, ...], known: Any, field: str, what: str) -> None:
    for index, record_id in enumerate(ids):
        if record_id not in known:
            raise RejectedError(f"{field}.{index}", f"no such {what} in this school")


# Reference records.


def reference_event(
    record_id: str, record: Any, context: Context, *, record_version: int
) -> Envelope[Any]:
    book, school_id = context.book, context.school_id
    match record:
        case GroupIn():
            _known(record.student_ids, book.students, "student_ids", "student")
            _known(record.teacher_ids, book.teachers, "teacher_ids", "teacher")
            school_class = book.classes.get(record.class_id)
            if school_class is None:
                raise RejectedError("class_id", "no such class in this school")
            return context.new(
                GroupChanged,
                GroupChangedPayload(
                    school_id=school_id,
                    class_id=record.class_id,
                    class_name=school_class.name,
                    education_level=school_class.education_level,
                    group_id=record_id,
                    group_name=record.name,
                    record_version=record_version,
                    group_kind=record.group_kind,
                    subject_id=record.subject_id,
                    subject_name=(
                        subject_name(record.subject_id, context) if record.subject_id else None
                    ),
                    student_ids=record.student_ids,
                    teacher_ids=record.teacher_ids,
                ),
            )
        case IndividualCurriculumIn():
            return context.new(IndividualCurriculumChanged, _curriculum(record_id, record, context))
        case BellScheduleIn():
            _known(record.class_ids, book.classes, "class_ids", "class")
            bells = BellScheduleChangedPayload(
                school_id=school_id,
                bell_schedule_id=record_id,
                name=record.name,
                education_levels=record.education_levels,
                class_ids=record.class_ids,
                bells=tuple(Bell(**bell.model_dump()) for bell in record.bells),
            )
            return context.new(BellScheduleChanged, bells)
        case SchoolCalendarIn():
            for index, days in enumerate(record.non_school_days):
                _known(days.class_ids, book.classes, f"non_school_days.{index}.class_ids", "class")
            fields = record.model_dump(exclude={"non_school_days"})
            payload = SchoolCalendarChangedPayload(
                school_id=school_id,
                **fields,
                non_school_days=tuple(
                    NonSchoolDays(**days.model_dump()) for days in record.non_school_days
                ),
            )
            return context.new(SchoolCalendarChanged, payload)
    raise TypeError(f"not a clause 4 reference record: {type(record).__name__}")


def _curriculum(
    student_id: str, record: IndividualCurriculumIn, context: Context
) -> IndividualCurriculumChangedPayload:
    student = context.book.students.get(student_id)
    if student is None:
        raise RejectedError("student_id", "no such student in this school: PUT the student first")
    subjects = []
    for index, subject in enumerate(record.subjects):
        field = f"subjects.{index}"
        if subject.group_id is not None and subject.group_id not in context.book.groups:
            raise RejectedError(f"{field}.group_id", "no such group in this school")
        subjects.append(
            CurriculumSubject(
                subject_id=subject.subject_id,
                subject_name=subject_name(subject.subject_id, context, f"{field}.subject_id"),
                teacher_id=subject.teacher_id,
                teacher_name=(
                    teacher_name(subject.teacher_id, context, f"{field}.teacher_id")
                    if subject.teacher_id
                    else None
                ),
                group_id=subject.group_id,
                hours_per_week=subject.hours_per_week,
            )
        )
    return IndividualCurriculumChangedPayload(
        student_id=student_id,
        school_id=context.school_id,
        class_id=student.class_id,
        school_year=record.school_year,
        # The student's own programme level, which may differ from their class's.
        education_level=record.education_level,
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        subjects=tuple(subjects),
    )


# Batch items: each kind's facts, then the event for a new record or a correction.


def lesson_facts(item: TimetableLessonItem, context: Context, version: int) -> dict[str, Any]:
    return {
        **class_facts(item.class_id, item.group_id, context, record_version=version),
        "lesson_id": item.lesson_id,
        "weekday": item.weekday,
        "lesson_number": item.lesson_number,
        "week": item.week,
        "subject_id": item.subject_id,
        "subject_name": subject_name(item.subject_id, context),
        "teacher_id": item.teacher_id,
        "teacher_name": teacher_name(item.teacher_id, context),
        "room": item.room,
        "valid_from": item.valid_from,
        "valid_to": item.valid_to,
    }


def change_facts(item: LessonChangeItem, context: Context, version: int) -> dict[str, Any]:
    substitute = item.substitute_teacher_id
    # Who was to teach it: as sent, or as the timetable lesson it changes says.
    lesson = context.lessons.get(item.timetable_lesson_id or "", {})
    teacher_id = item.teacher_id or lesson.get("teacher_id")
    was_teaching = context.book.teachers.get(teacher_id or "")
    return {
        **class_facts(item.class_id, item.group_id, context, record_version=version),
        "change_id": item.change_id,
        "change": item.change,
        "lesson_date": item.lesson_date,
        "lesson_number": item.lesson_number,
        "subject_id": item.subject_id,
        "subject_name": subject_name(item.subject_id, context),
        "teacher_name": (
            teacher_name(item.teacher_id, context)
            if item.teacher_id
            else was_teaching.name
            if was_teaching
            else None
        ),
        "substitute_teacher_name": (
            teacher_name(substitute, context, "substitute_teacher_id") if substitute else None
        ),
        "new_date": item.new_date,
        "new_lesson_number": item.new_lesson_number,
        "room": item.room,
        "new_room": item.new_room,
        "reason": item.reason,
        "announce": context.announce,
    }


def assessment_facts(item: AssessmentItem, context: Context, version: int) -> dict[str, Any]:
    if item.period_id is not None and item.period_id not in context.book.periods:
        raise RejectedError("period_id", "no such attestation period in this school")
    return {
        **class_facts(item.class_id, item.group_id, context, record_version=version),
        "assessment_id": item.assessment_id,
        "assessment_kind": item.assessment_kind,
        "title": item.title,
        "subject_id": item.subject_id,
        "subject_name": subject_name(item.subject_id, context),
        "teacher_name": teacher_name(item.teacher_id, context) if item.teacher_id else None,
        "period_id": item.period_id,
        "assessment_date": item.assessment_date,
        "lesson_number": item.lesson_number,
        "announce": context.announce,
    }


def homework_facts(item: HomeworkItem, context: Context, version: int) -> dict[str, Any]:
    return {
        **class_facts(item.class_id, item.group_id, context, record_version=version),
        "homework_id": item.homework_id,
        "subject_id": item.subject_id,
        "subject_name": subject_name(item.subject_id, context),
        "teacher_name": teacher_name(item.teacher_id, context),
        "lesson_date": item.lesson_date,
        "lesson_number": item.lesson_number,
        "due_on": item.due_on,
        "text": item.text,
        "attachments": tuple(Attachment(**a.model_dump()) for a in item.attachments),
        "announce": context.announce,
    }


def recommendation_facts(
    item: RecommendationItem, context: Context, version: int
) -> dict[str, Any]:
    student = context.book.students.get(item.student_id)
    if student is None:
        raise RejectedError("student_id", "no such student in this school")
    return {
        "student_id": item.student_id,
        "school_id": context.school_id,
        "student_name": student.name,
        "class_name": context.book.classes[student.class_id].name,
        "record_version": version,
        "recommendation_id": item.recommendation_id,
        "teacher_name": teacher_name(item.teacher_id, context),
        "subject_id": item.subject_id,
        "subject_name": subject_name(item.subject_id, context) if item.subject_id else None,
        "given_on": item.given_on,
        "text": item.text,
    }


def event_for(
    item: Any, previous: dict[str, Any] | None, context: Context, *, record_version: int
) -> Envelope[Any]:
    """The event for a new record (`previous` is None) or a correction of `previous`."""
    version = record_version
    match item:
        case TimetableLessonItem():
            # The timetable is reference data: a lesson is the same fact, new or changed.
            facts = lesson_facts(item, context, version)
            return context.new(TimetableLessonChanged, TimetableLessonChangedPayload(**facts))
        case LessonChangeItem():
            facts = change_facts(item, context, version)
            if previous is None:
                return context.new(LessonChangePosted, LessonChangePostedPayload(**facts))
            payload: Any = LessonChangeCorrectedPayload(
                **facts,
                previous_change=previous["change"],
                previous_lesson_date=previous["lesson_date"],
            )
            return context.new(LessonChangeCorrected, payload)
        case AssessmentItem():
            return _assessment(item, previous, context, version)
        case HomeworkItem():
            facts = homework_facts(item, context, version)
            if previous is None:
                return context.new(HomeworkAssigned, HomeworkAssignedPayload(**facts))
            payload = HomeworkCorrectedPayload(**facts, previous_due_on=previous["due_on"])
            return context.new(HomeworkCorrected, payload)
        case RecommendationItem():
            facts = recommendation_facts(item, context, version)
            if previous is None:
                return context.new(RecommendationPosted, RecommendationPostedPayload(**facts))
            return context.new(RecommendationCorrected, RecommendationCorrectedPayload(**facts))
    raise TypeError(f"a {type(item).__name__} is decided against the stored record")


def _assessment(
    item: AssessmentItem, previous: dict[str, Any] | None, context: Context, version: int
) -> Envelope[Any]:
    facts = assessment_facts(item, context, version)
    if previous is None:
        return context.new(AssessmentPlanned, AssessmentPlannedPayload(**facts))
    moved = (
        previous["assessment_date"] != item.assessment_date.isoformat()
        or previous.get("lesson_number") != item.lesson_number
    )
    if moved:
        payload = AssessmentRescheduledPayload(
            **facts,
            previous_date=previous["assessment_date"],
            previous_lesson_number=previous.get("lesson_number"),
        )
        return context.new(AssessmentRescheduled, payload)
    # Corrected without moving (a title, a teacher): the plan as it is now, but not news.
    return context.new(AssessmentPlanned, AssessmentPlannedPayload(**{**facts, "announce": False}))


def withdrawal_event(
    kind: str, stored: Any, reason: str | None, context: Context, *, record_version: int
) -> Envelope[Any]:
    """The event for a record the journal takes back: the record as it was, and why."""
    version = record_version
    match kind:
        case "timetable_lesson":
            facts = lesson_facts(stored, context, version)
            return context.new(TimetableLessonRemoved, TimetableLessonRemovedPayload(**facts))
        case "lesson_change":
            payload: Any = LessonChangeRetractedPayload(
                **change_facts(stored, context, version), retraction_reason=reason
            )
            return context.new(LessonChangeRetracted, payload)
        case "assessment":
            payload = AssessmentCancelledPayload(
                **assessment_facts(stored, context, version), reason=reason
            )
            return context.new(AssessmentCancelled, payload)
        case "homework":
            payload = HomeworkRetractedPayload(
                **homework_facts(stored, context, version), reason=reason
            )
            return context.new(HomeworkRetracted, payload)
        case "recommendation":
            payload = RecommendationRetractedPayload(
                **recommendation_facts(stored, context, version), reason=reason
            )
            return context.new(RecommendationRetracted, payload)
    raise TypeError(f"nothing to withdraw of kind {kind}")
