"""The journal's rules: what an incoming item means given what we already hold.

An item the journal sends again unchanged is a duplicate (no event); the same id with other
content is a correction (its own event, so parents learn a mark *changed*); a retraction is
its own operation and event. Everything here is pure: the store and the clock are passed in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from schemas import Envelope
from services.grades import facts
from services.grades.facts import ReferenceBook, RejectedError
from services.grades.items import (
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
        state = item.model_dump(mode="json")
        previous = None if stored is None or stored.retracted else stored.state
        # Built even for a duplicate: it checks the item still fits the reference data.
        event = facts.event_for(item, previous, context)
        if previous == state:
            return Decision("duplicate")
        version = stored.version + 1 if stored else 1
        return Decision(
            "accepted" if previous is None else "corrected",
            (event,),
            Stored(state, retracted=False, version=version),
        )
    except RejectedError as rejected:
        return Decision("rejected", errors=(rejected.error,))


def _retract(item: MarkRetractionItem, stored: Stored | None, context: facts.Context) -> Decision:
    if stored is None:
        raise RejectedError("mark_id", "no such mark in this school")
    if stored.retracted:
        return Decision("duplicate")
    mark = MarkItem.model_validate(stored.state)
    event = facts.mark_retracted(mark, item.reason, context)
    return Decision("retracted", (event,), Stored(stored.state, True, stored.version + 1))


def scope_of(
    item: JournalItem, stored: Stored | None, book: ReferenceBook
) -> tuple[str, str] | None:
    """The (class, subject) an item touches, for checking a teacher's rights; None if unknown."""
    if isinstance(item, MarkRetractionItem):
        if stored is None:
            return None
        item = MarkItem.model_validate(stored.state)
    subject_id = item.subject_id
    student = book.students.get(item.student_id)
    if student is None or subject_id is None:
        return None
    return (student.class_id, subject_id)


def teacher_may_record(
    teacher_id: str, item: JournalItem, stored: Stored | None, book: ReferenceBook
) -> bool:
    """A teacher records only for the classes and subjects they teach, and only as themselves."""
    teacher = book.teachers.get(teacher_id)
    scope = scope_of(item, stored, book)
    if teacher is None or scope is None:
        return False
    if isinstance(item, MarkItem) and item.teacher_id != teacher_id:
        return False
    return any((a.class_id, a.subject_id) == scope for a in teacher.assignments)
