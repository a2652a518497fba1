"""The journal's rules for clause 4's items, as for marks: a resend is a duplicate, the same
id with other content a correction, a retraction its own event; and who may send what.
Pure, like `domain.py`."""

from __future__ import annotations

from typing import Any

from schemas.envelope import Envelope
from services.grades import curriculum_facts, week_facts
from services.grades.curriculum_items import LessonHeldItem, LessonHeldRemovalItem
from services.grades.domain import Decision, EntryKey, Stored, post_or_correct
from services.grades.facts import Context, ReferenceBook, RejectedError
from services.grades.items import AS_STORED, FieldError, Input
from services.grades.week_items import (
    AssessmentCancellationItem,
    AssessmentItem,
    HomeworkItem,
    HomeworkRetractionItem,
    LessonChangeItem,
    LessonChangeRetractionItem,
    RecommendationItem,
    RecommendationRetractionItem,
    TimetableLessonItem,
    TimetableLessonRemovalItem,
    WeekItem,
)

# Each record kind: its item, the item that takes it back, and the id field both carry.
RECORDS: dict[str, tuple[type[Input], type[Input], str]] = {
    "timetable_lesson": (TimetableLessonItem, TimetableLessonRemovalItem, "lesson_id"),
    "lesson_change": (LessonChangeItem, LessonChangeRetractionItem, "change_id"),
    "assessment": (AssessmentItem, AssessmentCancellationItem, "assessment_id"),
    "homework": (HomeworkItem, HomeworkRetractionItem, "homework_id"),
    "recommendation": (RecommendationItem, RecommendationRetractionItem, "recommendation_id"),
    "lesson_held": (LessonHeldItem, LessonHeldRemovalItem, "lesson_id"),
}
_KIND_OF = {model: kind for kind, models in RECORDS.items() for model in models[:2]}
WITHDRAWALS = tuple(models[1] for models in RECORDS.values())


def week_entry_key(item: WeekItem) -> EntryKey:
    kind = _KIND_OF[type(item)]
    return (kind, getattr(item, RECORDS[kind][2]))


def is_withdrawal(item: Any) -> bool:
    return isinstance(item, WITHDRAWALS)


def decide_week(item: WeekItem, stored: Stored | None, context: Context) -> Decision:
    """What `item` means against `stored`: its outcome, events, and the state to keep."""
    kind, _ = week_entry_key(item)
    try:
        if is_withdrawal(item):
            return _withdraw(kind, item, stored, context)
        if stored is not None:
            # Kafka orders a class's facts by class and a student's by student: a record that
            # moved would leave its first class (or student) with a stale copy.
            owner = "student_id" if kind == "recommendation" else "class_id"
            if stored.state.get(owner) != getattr(item, owner):
                raise RejectedError(
                    owner,
                    f"this id is recorded for another {owner.removesuffix('_id')}; a record "
                    "never moves (retract it and send it under a new id)",
                )
        return post_or_correct(
            item,
            stored,
            lambda previous, version: _event_for(item, previous, context, version),
        )
    except RejectedError as rejected:
        return Decision("rejected", errors=(rejected.error,))


def _event_for(
    item: WeekItem, previous: dict[str, Any] | None, context: Context, version: int
) -> Envelope[Any]:
    if isinstance(item, LessonHeldItem):
        return curriculum_facts.lesson_held(item, context, record_version=version)
    return week_facts.event_for(item, previous, context, record_version=version)


def _withdraw(kind: str, item: Any, stored: Stored | None, context: Context) -> Decision:
    if stored is None:
        raise RejectedError(RECORDS[kind][2], f"no such {kind.replace('_', ' ')} in this school")
    if stored.retracted:
        return Decision("duplicate")
    record = RECORDS[kind][0].model_validate(stored.state, context=AS_STORED)
    version = stored.version + 1
    if isinstance(record, LessonHeldItem):
        event = curriculum_facts.lesson_held_removed(record, context, record_version=version)
    else:
        event = week_facts.withdrawal_event(
            kind, record, getattr(item, "reason", None), context, record_version=version
        )
    return Decision("retracted", (event,), Stored(stored.state, True, version))


# Who may send what: a teacher, only for the classes and groups they teach.


def _teaches(teacher_id: str, record: dict[str, Any], book: ReferenceBook) -> bool:
    """A class's record: the teacher teaches its subject to the class, or teaches its group."""
    group = book.groups.get(record.get("group_id") or "")
    if (
        group is not None
        and group.class_id == record.get("class_id")
        and teacher_id in group.teacher_ids
    ):
        return True
    teacher = book.teachers.get(teacher_id)
    assignments = teacher.assignments if teacher else ()
    return any(
        a.class_id == record.get("class_id") and a.subject_id == record.get("subject_id")
        for a in assignments
    )


def teaches_student(teacher_id: str, student_id: str, book: ReferenceBook) -> bool:
    """The teacher teaches the student's class something, or a group the student is in."""
    student = book.students.get(student_id)
    if student is None:
        return False
    teacher = book.teachers.get(teacher_id)
    if teacher and any(a.class_id == student.class_id for a in teacher.assignments):
        return True
    return any(
        teacher_id in group.teacher_ids and student_id in group.student_ids
        for group in book.groups.values()
    )


def _refusal(
    teacher_id: str, kind: str, record: dict[str, Any], book: ReferenceBook
) -> FieldError | None:
    if kind == "recommendation":
        if record.get("teacher_id") != teacher_id:
            return FieldError(field="teacher_id", reason="a teacher recommends in their own name")
        if not teaches_student(teacher_id, record.get("student_id", ""), book):
            return FieldError(field="student_id", reason="not a student this teacher teaches")
        return None
    if kind == "homework" and record.get("teacher_id") != teacher_id:
        return FieldError(field="teacher_id", reason="a teacher sets homework in their own name")
    if _teaches(teacher_id, record, book):
        return None
    teacher = book.teachers.get(teacher_id)
    taught_class = teacher is not None and any(
        a.class_id == record.get("class_id") for a in teacher.assignments
    )
    field = "group_id" if record.get("group_id") else "subject_id" if taught_class else "class_id"
    return FieldError(field=field, reason="not a class, group or subject this teacher teaches")


def week_teacher_refusal(
    teacher_id: str, item: WeekItem, stored: Stored | None, book: ReferenceBook
) -> FieldError | None:
    """Why a teacher may not send `item`, or None. As with marks, a record found by its id is
    checked as stored as well as sent: a colleague's homework under the same id is not theirs."""
    kind, _ = week_entry_key(item)
    id_field = RECORDS[kind][2]
    if is_withdrawal(item):
        if stored is None:
            return FieldError(field=id_field, reason=f"no such {kind.replace('_', ' ')} of theirs")
    else:
        refused = _refusal(teacher_id, kind, item.model_dump(), book)
        if refused is not None:
            return refused
    if stored is not None and _refusal(teacher_id, kind, stored.state, book) is not None:
        return FieldError(field=id_field, reason="recorded for a class or by a teacher not theirs")
    return None
