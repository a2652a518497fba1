"""Recording what the journal sends: reference records and batches of journal items."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from schemas import Envelope
from services.grades import curriculum_facts, facts, week_facts
from services.grades.curriculum_items import StudyPlanIn
from services.grades.domain import (
    Change,
    Decision,
    EntryKey,
    Outcome,
    RecordsQuery,
    Stored,
    decide,
    entry_key,
    subjects_taught,
    teacher_refusal,
)
from services.grades.facts import ReferenceBook
from services.grades.items import (
    FieldError,
    JournalItem,
    MarkRetractionItem,
    SchoolIn,
)
from services.grades.week_domain import (
    decide_week,
    is_withdrawal,
    week_entry_key,
    week_teacher_refusal,
)
from services.grades.week_items import (
    WEEK_KINDS,
    LessonChangeItem,
    WeekItem,
    parse_batch_item,
)

BatchItem = JournalItem | WeekItem

ATTEMPTS = 3


class GradesStore(Protocol):
    async def reference_book(self, school_id: str) -> ReferenceBook | None: ...
    async def load(self, school_id: str, keys: list[EntryKey]) -> dict[EntryKey, Stored]: ...
    async def save(self, school_id: str, changes: list[Change]) -> set[EntryKey]: ...
    async def records_of_student(
        self, school_id: str, query: RecordsQuery
    ) -> tuple[list[Stored], str | None]: ...


class SchoolNotRegisteredError(Exception):
    """The journal must register the school (PUT) before anything else of it."""


class ChangedConcurrentlyError(Exception):
    """Other requests kept changing the record while this one tried to: send it again."""


class StudentNotFoundError(Exception):
    """No such student in the school (told only to callers who may read the whole school)."""


class NotThisTeachersError(Exception):
    """A teacher asked for a student they teach nothing to: the same answer whether the
    student exists or not."""


class ForbiddenItemsError(Exception):
    """Items outside the caller's classes, subjects or records: the whole request is refused."""

    def __init__(self, refused: dict[int, FieldError]) -> None:
        super().__init__(
            "not this teacher's to record: "
            + "; ".join(f"item {i}: {e.field}: {e.reason}" for i, e in refused.items())
        )
        self.indexes = list(refused)


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: Outcome
    id: str | None = None
    errors: tuple[FieldError, ...] = ()


async def record_batch(
    school_id: str,
    raw_items: list[Any],
    *,
    store: GradesStore,
    now: datetime,
    teacher_id: str | None = None,
    announce: bool = True,
) -> list[ItemResult]:
    """Record every valid item with its events; answer each item on its own.

    `teacher_id` limits the batch to that teacher's classes and subjects and to records they
    may change (see `teacher_refusal`). `announce` False: the batch was loaded with a schedule
    (a term's tests, say), and the facts that can be news say they are not.
    """
    book = await store.reference_book(school_id)
    if book is None:
        raise SchoolNotRegisteredError(school_id)
    results: dict[int, ItemResult] = {}
    items: dict[int, BatchItem] = {}
    for index, raw in enumerate(raw_items):
        parsed = parse_batch_item(raw)
        if isinstance(parsed, list):
            results[index] = ItemResult(index, "rejected", errors=tuple(parsed))
        else:
            items[index] = parsed

    correlation_id = uuid.uuid4()
    lessons = await _timetabled_lessons(school_id, items.values(), store)
    todo = sorted(items)
    for attempt in range(ATTEMPTS):
        # The first time, only retractions need what is stored: everything else is taken for
        # new and inserted blindly (the journal's usual batch costs no read). What turns out
        # to exist already (a resend, a correction) comes back as a conflict, and is loaded
        # and decided again.
        # A teacher's batch (small: one teacher's lessons) is read whole, as what a teacher
        # may change depends on who recorded it.
        blind = attempt == 0 and teacher_id is None
        needed = [i for i in todo if _withdraws(items[i])] if blind else todo
        stored = await store.load(school_id, [_key(items[i]) for i in needed])
        if teacher_id is not None:
            refused = _refusals(teacher_id, {i: items[i] for i in todo}, stored, book)
            if refused and attempt == 0:
                raise ForbiddenItemsError(refused)
            # Written by someone else since the first read (nothing of this batch refused
            # then, and part of it is stored now): refused item by item.
            for index, error in refused.items():
                results[index] = ItemResult(index, "rejected", _key(items[index])[1], (error,))
            todo = [index for index in todo if index not in refused]
        working = dict(stored)
        events: dict[EntryKey, list[Envelope[Any]]] = defaultdict(list)
        context = facts.Context(book, school_id, now, correlation_id, announce, lessons)
        for index in todo:
            key = _key(items[index])
            decision = _decide(items[index], working.get(key), context)
            results[index] = ItemResult(index, decision.outcome, key[1], decision.errors)
            if decision.new_state is not None:
                working[key] = decision.new_state
                events[key].extend(decision.events)
        changes = [
            Change(
                key,
                stored.get(key),
                working[key],
                tuple(key_events),
                working[key].state.get("student_id"),
            )
            for key, key_events in events.items()
        ]
        conflicts = await store.save(school_id, changes)
        # Someone changed these records between our read and our write: decide them again.
        todo = [index for index in todo if _key(items[index]) in conflicts]
        if not todo:
            break
    for index in todo:
        reason = "changed concurrently by another request; send it again"
        results[index] = ItemResult(
            index, "rejected", errors=(FieldError(field="", reason=reason),)
        )
    return [results[index] for index in range(len(raw_items))]


async def _timetabled_lessons(
    school_id: str, items: Iterable[BatchItem], store: GradesStore
) -> dict[str, dict[str, Any]]:
    """The timetable lessons that lesson changes name without saying who was to teach them:
    the notice names that teacher all the same."""
    keys = [
        ("timetable_lesson", item.timetable_lesson_id)
        for item in items
        if isinstance(item, LessonChangeItem) and item.timetable_lesson_id and not item.teacher_id
    ]
    if not keys:
        return {}
    found = await store.load(school_id, keys)
    return {key[1]: lesson.state for key, lesson in found.items() if not lesson.retracted}


def _is_week(item: BatchItem) -> bool:
    return item.kind in WEEK_KINDS


def _key(item: BatchItem) -> EntryKey:
    return week_entry_key(item) if _is_week(item) else entry_key(item)  # type: ignore[arg-type]


def _withdraws(item: BatchItem) -> bool:
    return isinstance(item, MarkRetractionItem) or is_withdrawal(item)


def _decide(item: BatchItem, stored: Stored | None, context: facts.Context) -> Decision:
    if _is_week(item):
        return decide_week(item, stored, context)  # type: ignore[arg-type]
    return decide(
        item,  # type: ignore[arg-type]
        stored,
        context.book,
        school_id=context.school_id,
        now=context.now,
        correlation_id=context.correlation_id,
    )


def _refusal(
    teacher_id: str, item: BatchItem, stored: Stored | None, book: ReferenceBook
) -> FieldError | None:
    if _is_week(item):
        return week_teacher_refusal(teacher_id, item, stored, book)  # type: ignore[arg-type]
    return teacher_refusal(teacher_id, item, stored, book)  # type: ignore[arg-type]


def _refusals(
    teacher_id: str,
    items: dict[int, BatchItem],
    stored: dict[EntryKey, Stored],
    book: ReferenceBook,
) -> dict[int, FieldError]:
    found = {
        index: _refusal(teacher_id, item, stored.get(_key(item)), book)
        for index, item in items.items()
    }
    return {index: error for index, error in found.items() if error is not None}


@dataclass(frozen=True)
class Page:
    records: list[Stored]
    next_cursor: str | None  # None on the last page


async def student_marks(
    school_id: str,
    student_id: str,
    *,
    store: GradesStore,
    limit: int,
    cursor: str | None = None,
    teacher_id: str | None = None,
) -> Page:
    """A page of a student's marks as recorded, in the order of their ids, after `cursor`;
    a teacher gets only the subjects they teach to the student's class."""
    book = await store.reference_book(school_id)
    if book is None:
        raise SchoolNotRegisteredError(school_id)
    subjects: frozenset[str] | None = None
    if teacher_id is not None:
        subjects = subjects_taught(teacher_id, student_id, book)
        if not subjects:
            raise NotThisTeachersError(student_id)
    elif student_id not in book.students:
        raise StudentNotFoundError(student_id)
    query = RecordsQuery(student_id, "mark", limit, cursor, subjects)
    return Page(*await store.records_of_student(school_id, query))


ReferenceOutcome = Literal["created", "updated", "unchanged"]


async def put_reference(
    school_id: str, kind: str, record_id: str, record: Any, *, store: GradesStore, now: datetime
) -> ReferenceOutcome:
    """Upsert one reference record; publish a change event only when its content changed."""
    if isinstance(record, SchoolIn):
        book = await store.reference_book(school_id) or ReferenceBook(school=record)
    else:
        found = await store.reference_book(school_id)
        if found is None:
            raise SchoolNotRegisteredError(school_id)
        book = found
    key = (kind, record_id)
    for _ in range(ATTEMPTS):
        before = (await store.load(school_id, [key])).get(key)
        state = record.model_dump(mode="json")
        version = before.version + 1 if before else 1
        context = facts.Context(book, school_id, now, uuid.uuid4())
        # Built even when unchanged: it validates the record's references.
        event = _reference_event(kind, record_id, record, context, version)
        if before is not None and before.state == state:
            return "unchanged"
        after = Stored(state, version=version)
        student_id = record_id if kind in ("student", "curriculum") else None
        change = Change(key, before, after, (event,) if event else (), student_id)
        if not await store.save(school_id, [change]):
            return "created" if before is None else "updated"
    raise ChangedConcurrentlyError(f"{kind} {record_id}")


def _reference_event(
    kind: str, record_id: str, record: Any, context: facts.Context, version: int
) -> Envelope[Any] | None:
    if isinstance(record, StudyPlanIn):
        return curriculum_facts.study_plan_event(record_id, record, context, record_version=version)
    if kind in week_facts.WEEK_REFERENCES:
        return week_facts.reference_event(record_id, record, context, record_version=version)
    return facts.reference_event(kind, record_id, record, context)
