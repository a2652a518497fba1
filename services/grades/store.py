"""The grades repository on MongoDB: every journal and reference record, with its outbox.

A record is a document `{school}/{kind}/{id}`, written with the events its change produced by
one single-document operation (`services.shared.outbox`): final results, exam results and lesson
changes in the urgent lane, a term's timetable, the lessons held and the reference records of
clauses 4 and 7 in the bulk lane, the rest in the normal one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.grades.curriculum_items import StudyPlanIn
from services.grades.domain import Change, EntryKey, RecordsQuery, Stored
from services.grades.facts import ReferenceBook
from services.grades.items import (
    AS_STORED,
    ClassIn,
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
from services.shared.mongo import Document
from services.shared.outbox import (
    Lane,
    MongoOutbox,
    PendingRecord,
    pending_fields,
    with_pending,
)
from services.shared.pages import find_page

DUPLICATE_KEY = 11000
# Reads by `_id` side by side: FerretDB serves several at once on its connection pool.
LOAD_CONCURRENCY = 8


# Final results and exam results go out first (clause 9's 24 hours), and lesson changes (they
# must reach families before the lesson); the rest in order. What a journal loads by the
# thousand and is never news (a term's timetable, groups, curricula, bells, the calendar, the
# curriculum and the lessons held) goes last, so loading it never delays a result.
URGENT_KINDS = frozenset({"final_mark", "exam_result", "lesson_change"})
BULK_KINDS = frozenset(
    {
        "timetable_lesson",
        "group",
        "curriculum",
        "bell_schedule",
        "calendar",
        "study_plan",
        "lesson_held",
    }
)


def lane_of(kind: str) -> Lane:
    if kind in URGENT_KINDS:
        return "urgent"
    return "bulk" if kind in BULK_KINDS else "normal"


REFERENCE_KINDS: dict[str, type[BaseModel]] = {
    "period": PeriodIn,
    "class": ClassIn,
    "student": StudentIn,
    "subject": SubjectIn,
    "teacher": TeacherIn,
    "group": GroupIn,
    "curriculum": IndividualCurriculumIn,
    "bell_schedule": BellScheduleIn,
    "calendar": SchoolCalendarIn,
    "study_plan": StudyPlanIn,
}


def _id(school_id: str, key: EntryKey) -> str:
    return f"{school_id}/{key[0]}/{key[1]}"


class MongoGradesStore:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        on_written: Callable[[list[PendingRecord]], None] | None = None,
    ) -> None:
        """`on_written`: told what each save wrote, for the relay to publish without reading
        it back."""
        self._on_written = on_written or (lambda records: None)
        # Reference data apart from the journal's records: a batch reads all of the former.
        self._references = db["references"]
        self._records = db["records"]
        self._collections = (self._references, self._records)
        # school → (its count of reference changes, the book at that count)
        self._books: dict[str, tuple[int, ReferenceBook]] = {}
        # FerretDB (the local stack) updates a document by reading it, changing it and writing
        # it back, without a lock: two updates of one document at once can lose one. Updates of
        # records (a correction, the relay taking out published events) take turns here; new
        # records are inserts, which need none. One process's turns: run the relay beside the
        # API on FerretDB (the default). MongoDB updates a document atomically.
        self._updating = asyncio.Lock()
        self._outbox = MongoOutbox(self._collections, updating=self._updating)

    async def ensure_indexes(self) -> None:
        await self._outbox.ensure_indexes()
        await self._records.create_index([("school_id", 1), ("kind", 1), ("student_id", 1)])
        await self._references.create_index([("school_id", 1)])

    async def reference_book(self, school_id: str) -> ReferenceBook | None:
        """All of a school's reference data. The school's record counts its reference changes
        (`reference_version`): a copy of the book read at the same count is still the book,
        so a batch usually costs one read by `_id`, not a read of the whole school."""
        school = await self._references.find_one({"_id": _id(school_id, ("school", school_id))})
        if school is None:
            return None
        version = school.get("reference_version", 0)
        cached = self._books.get(school_id)
        if cached is not None and cached[0] == version:
            book = cached[1]
        else:
            book = await self._read_book(school_id, school)
            self._books[school_id] = (version, book)
        book.school = SchoolIn.model_validate(school["state"], context=AS_STORED)
        return book

    async def _read_book(self, school_id: str, school: Document) -> ReferenceBook:
        book = ReferenceBook(school=SchoolIn.model_validate(school["state"], context=AS_STORED))
        cursor = self._references.find(
            {"school_id": school_id, "kind": {"$in": list(REFERENCE_KINDS)}},
            {"kind": 1, "record_id": 1, "state": 1},
        )
        async for doc in cursor:
            _section(book, doc["kind"])[doc["record_id"]] = REFERENCE_KINDS[
                doc["kind"]
            ].model_validate(doc["state"], context=AS_STORED)
        return book

    async def _count_reference_changes(self, school_id: str, changes: list[Change]) -> None:
        """Bump the school's count of reference changes; keep the cached book in step when
        no other process changed it in between."""
        references = [c for c in changes if c.key[0] in REFERENCE_KINDS]
        if not references:
            return
        async with self._updating:
            counted = await self._references.find_one_and_update(
                {"_id": _id(school_id, ("school", school_id))},
                {"$inc": {"reference_version": len(references)}},
                return_document=ReturnDocument.AFTER,
            )
        cached = self._books.pop(school_id, None)
        if counted is None or cached is None:
            return
        version, book = cached
        if counted["reference_version"] == version + len(references):
            for change in references:
                kind, record_id = change.key
                _section(book, kind)[record_id] = REFERENCE_KINDS[kind].model_validate(
                    change.after.state, context=AS_STORED
                )
            self._books[school_id] = (counted["reference_version"], book)

    async def load(self, school_id: str, keys: list[EntryKey]) -> dict[EntryKey, Stored]:
        """Each record by its `_id`, LOAD_CONCURRENCY at a time: an `$in` would read the whole
        history on FerretDB. The journal's usual batch needs no load at all (new records are
        inserted blindly, see `record_batch`); a resent batch or retractions do."""
        limit = asyncio.Semaphore(LOAD_CONCURRENCY)

        async def one(key: EntryKey) -> tuple[EntryKey, Document | None]:
            async with limit:
                return key, await self._of(key[0]).find_one({"_id": _id(school_id, key)})

        loaded = await asyncio.gather(*(one(key) for key in sorted(set(keys))))
        return {key: _stored(doc) for key, doc in loaded if doc is not None}

    def _of(self, kind: str) -> AsyncCollection[Document]:
        return self._references if kind in REFERENCE_KINDS or kind == "school" else self._records

    def _of_document(self, document_id: str) -> AsyncCollection[Document]:
        return self._of(document_id.split("/")[1])

    async def save(self, school_id: str, changes: list[Change]) -> set[EntryKey]:
        """Write each change with its events; return the keys someone else changed first."""
        conflicts: set[EntryKey] = set()
        now = datetime.now(UTC)
        for collection in self._collections:
            new = [c for c in changes if c.before is None and self._of(c.key[0]) is collection]
            if not new:
                continue
            try:
                await collection.insert_many(
                    [self._new_document(school_id, change, now) for change in new], ordered=False
                )
            except BulkWriteError as error:
                for write_error in error.details["writeErrors"]:
                    if write_error["code"] != DUPLICATE_KEY:
                        raise
                    conflicts.add(new[write_error["index"]].key)
        for change in changes:
            if change.before is None:
                continue
            async with self._updating:
                result = await self._of(change.key[0]).update_one(
                    {"_id": _id(school_id, change.key), "version": change.before.version},
                    with_pending(
                        {
                            "$set": {
                                "state": change.after.state,
                                "retracted": change.after.retracted,
                                "version": change.after.version,
                                "updated_at": now,
                            }
                        },
                        change.events,
                        lane_of(change.key[0]),
                    ),
                )
            if result.matched_count == 0:
                conflicts.add(change.key)
        written = [c for c in changes if c.key not in conflicts]
        await self._count_reference_changes(school_id, written)
        self._on_written(
            [
                PendingRecord(
                    self._of(c.key[0]).name,
                    _id(school_id, c.key),
                    c.after.version,
                    list(c.events),
                    lane_of(c.key[0]),
                )
                for c in written
                if c.events
            ]
        )
        return conflicts

    def _new_document(self, school_id: str, change: Change, now: datetime) -> Document:
        return {
            "_id": _id(school_id, change.key),
            "school_id": school_id,
            "kind": change.key[0],
            "record_id": change.key[1],
            "student_id": change.student_id,
            "state": change.after.state,
            "retracted": change.after.retracted,
            "version": change.after.version,
            "updated_at": now,
            **pending_fields(change.events, lane_of(change.key[0])),
        }

    async def records_of_student(
        self, school_id: str, wanted: RecordsQuery
    ) -> tuple[list[Stored], str | None]:
        """A page of records and the next page's cursor (None on the last page)."""
        query: Document = {
            "school_id": school_id,
            "kind": wanted.kind,
            "student_id": wanted.student_id,
        }
        if wanted.subjects is not None:
            query["state.subject_id"] = {"$in": sorted(wanted.subjects)}
        found, next_cursor = await find_page(
            self._records, query, order="record_id", limit=wanted.limit, after=wanted.cursor
        )
        return [_stored(doc) for doc in found], next_cursor

    # The outbox.

    async def pending_events(self, limit: int) -> list[PendingRecord]:
        return await self._outbox.pending_events(limit)

    async def mark_published(self, records: list[PendingRecord]) -> None:
        await self._outbox.mark_published(records)

    async def outbox_backlog(self) -> int:
        return await self._outbox.outbox_backlog()


def _section(book: ReferenceBook, kind: str) -> dict[str, Any]:
    sections: dict[str, dict[str, Any]] = {
        "period": book.periods,
        "class": book.classes,
        "student": book.students,
        "subject": book.subjects,
        "teacher": book.teachers,
        "group": book.groups,
        "curriculum": book.curricula,
        "bell_schedule": book.bell_schedules,
        "calendar": book.calendars,
        "study_plan": book.study_plans,
    }
    return sections[kind]


def _stored(doc: Document) -> Stored:
    return Stored(doc["state"], doc.get("retracted", False), doc["version"])
