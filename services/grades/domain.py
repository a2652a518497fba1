"""The journal's rules: what an incoming item means given what we already hold.

An item the journal sends again unchanged is a duplicate (no event); the same id with other
content is a correction (its own event, so parents learn a mark *changed*); a retraction is
its own operation and event. Everything here is pure: the store and the clock are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from schemas import Envelope
from services.grades import facts
from services.grades.facts import ReferenceBook, RejectedError
from services.grades.items import (
    AS_STORED,
    AbsenceItem,
    ExamResultItem,
    FieldError,
    FinalMarkItem,
    JournalItem,
    MarkItem,
    MarkRetractionItem,
)

Outcome = Literal["accepted", "duplicate", "corrected", "retracted", "rejected"]
EntryKey = tuple[str, str]  # (record kind, the journal's id)


@dataclass(frozen=True)
class Stored:
    """A journal record as we hold it: the item as last accepted, and whether it was retracted."""

    state: dict[str, Any]
    retracted: bool = False
    version: int = 0


@dataclass(frozen=True)
class Change:
    """What to write for one record: its new state and the events the change produced."""

    key: EntryKey
    before: Stored | None
    after: Stored
    events: tuple[Envelope[Any], ...]
    student_id: str | None = None


@dataclass(frozen=True)
class RecordsQuery:
    """A page of one student's records of one kind, in the order of their ids."""

    student_id: str
    kind: str
    limit: int
    cursor: str | None = None  # the previous page's `next_cursor`
    subjects: frozenset[str] | None = None  # only these, when given


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    events: tuple[Envelope[Any], ...] = ()
    new_state: Stored | None = None
    errors: tuple[FieldError, ...] = ()


def entry_key(item: JournalItem) -> EntryKey:
    match item:
        case MarkItem() | MarkRetractionItem():
            return ("mark", item.mark_id)
        case AbsenceItem():
            return ("absence", item.absence_id)
        case FinalMarkItem():
            return ("final_mark", item.final_mark_id)
        case ExamResultItem():
            return ("exam_result", item.result_id)


def decide(
    item: JournalItem,
    stored: Stored | None,
    book: ReferenceBook,
    *,
    school_id: str,
    now: datetime,
    correlation_id: uuid.UUID,
) -> Decision:
    """What `item` means against `stored`: its outcome, events, and the state to keep."""
    context = facts.Context(book, school_id, now, correlation_id)
    try:
        if isinstance(item, MarkRetractionItem):
            return _retract(item, stored, context)
        if stored is not None and stored.state.get("student_id") != item.student_id:
            # Consumers keep a record under its student (and Kafka orders events by student):
            # a moved record would stay behind with the first student as well.
            raise RejectedError(
                "student_id",
                "this id is recorded for another student; a record never moves "
                "(retract a mark and send it under a new id)",
            )
        return post_or_correct(
            item,
            stored,
            lambda previous, version: facts.event_for(
                item, previous, context, record_version=version
            ),
        )
    except RejectedError as rejected:
        return Decision("rejected", errors=(rejected.error,))


def post_or_correct(
    item: BaseModel,
    stored: Stored | None,
    event_for: Callable[[dict[str, Any] | None, int], Envelope[Any]],
) -> Decision:
    """A record sent whole: new (or sent again after its retraction), a correction of what is
    stored, or a duplicate. `event_for(previous, version)` builds the event."""
    state = item.model_dump(mode="json")
    previous = None if stored is None or stored.retracted else stored.state
    version = stored.version + 1 if stored else 1
    # Built even for a duplicate: it checks the item still fits the reference data.
    event = event_for(previous, version)
    if previous == state:
        return Decision("duplicate")
    return Decision(
        "accepted" if previous is None else "corrected",
        (event,),
        Stored(state, retracted=False, version=version),
    )


def _retract(item: MarkRetractionItem, stored: Stored | None, context: facts.Context) -> Decision:
    if stored is None:
        raise RejectedError("mark_id", "no such mark in this school")
    if stored.retracted:
        return Decision("duplicate")
    mark = MarkItem.model_validate(stored.state, context=AS_STORED)
    version = stored.version + 1
    event = facts.mark_retracted(mark, item.reason, context, record_version=version)
    return Decision("retracted", (event,), Stored(stored.state, True, version))


ID_FIELDS = {
    "mark": "mark_id",
    "absence": "absence_id",
    "final_mark": "final_mark_id",
    "exam_result": "result_id",
}


def _scope(record: dict[str, Any], book: ReferenceBook) -> tuple[str, str] | None:
    """The (class, subject) a record belongs to; None if its student or subject is unknown."""
    student = book.students.get(record.get("student_id") or "")
    subject_id = record.get("subject_id")
    if student is None or subject_id is None:
        return None
    return (student.class_id, subject_id)


def teacher_refusal(
    teacher_id: str, item: JournalItem, stored: Stored | None, book: ReferenceBook
) -> FieldError | None:
    """Why a teacher may not record `item`, or None when they may. A teacher records only for
    the classes and subjects they teach and only in their own name, and corrects or retracts
    only what they may record: a record is found by its id alone, so its content as stored is
    checked as well as the content sent (a colleague's mark under the same id is not theirs)."""
    teacher = book.teachers.get(teacher_id)
    teaches = {(a.class_id, a.subject_id) for a in teacher.assignments} if teacher else set()
    kind, _ = entry_key(item)
    id_field = ID_FIELDS[kind]
    if isinstance(item, MarkRetractionItem):
        if stored is None:
            return FieldError(field=id_field, reason="no such mark of this teacher's")
    else:
        if isinstance(item, MarkItem) and item.teacher_id != teacher_id:
            return FieldError(field="teacher_id", reason="a teacher gives marks in their own name")
        scope = _scope(item.model_dump(), book)
        if scope not in teaches:
            taught_class = scope is not None and any(scope[0] == c for c, _ in teaches)
            return FieldError(
                field="subject_id" if taught_class else "student_id",
                reason="not a class and subject this teacher teaches",
            )
    if stored is not None:
        if kind == "mark" and stored.state.get("teacher_id") != teacher_id:
            return FieldError(field=id_field, reason="recorded by another teacher")
        if _scope(stored.state, book) not in teaches:
            return FieldError(
                field=id_field, reason="recorded for a class or subject this teacher does not teach"
            )
    return None


def teacher_may_record(
    teacher_id: str, item: JournalItem, stored: Stored | None, book: ReferenceBook
) -> bool:
    return teacher_refusal(teacher_id, item, stored, book) is None


def subjects_taught(teacher_id: str, student_id: str, book: ReferenceBook) -> frozenset[str]:
    """The subjects a teacher teaches the student: to their class, to a group of theirs, or
    on their individual curriculum: what they may read of the student's records (nothing for
    an unknown student or teacher)."""
    teacher, student = book.teachers.get(teacher_id), book.students.get(student_id)
    if teacher is None or student is None:
        return frozenset()
    in_groups = {
        group.subject_id
        for group in book.groups.values()
        if teacher_id in group.teacher_ids and student_id in group.student_ids
    }
    plan = book.curricula.get(student_id)
    on_plan = {s.subject_id for s in plan.subjects if s.teacher_id == teacher_id} if plan else set()
    in_class = {a.subject_id for a in teacher.assignments if a.class_id == student.class_id}
    return frozenset(in_class | on_plan | {s for s in in_groups if s is not None})
