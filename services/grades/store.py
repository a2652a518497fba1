"""The grades repository on MongoDB: every journal and reference record, with its outbox.

A record is a document `{school}/{kind}/{id}`. A record and the events its change produced are
written by one single-document operation: there is no moment when one exists without the other,
and no multi-document transaction is needed (FerretDB has none). While a record has pending
events it carries `outbox` (its lane: "urgent" for final results, else "normal") and an
`outbox_seq` (the relay publishes each lane in that order); both go when they are published.
The outbox is thus the set of records with that field, read by lane through a sparse index
(MongoDB) or its GIN twin (FerretDB): the pending ones only, never the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from schemas import Envelope
from schemas.topics import EVENTS_BY_TYPE
from services.grades.domain import Change, EntryKey, Stored
from services.grades.facts import ReferenceBook
from services.grades.items import ClassIn, PeriodIn, SchoolIn, StudentIn, SubjectIn, TeacherIn
from services.shared.mongo import Document, bulk_write

DUPLICATE_KEY = 11000
# Reads by `_id` side by side: FerretDB serves several at once on its connection pool.
LOAD_CONCURRENCY = 8


# Final results and exam results go out first (clause 9's 24 hours); the rest in order.
URGENT_KINDS = frozenset({"final_mark", "exam_result"})
Lane = Literal["urgent", "normal"]


@dataclass(frozen=True)
class PendingRecord:
    """A record with events to publish: as written, or as the relay read it back."""

    document_id: str
    version: int
    events: list[Envelope[Any]]
    lane: Lane = "normal"


def lane_of(kind: str) -> Lane:
    return "urgent" if kind in URGENT_KINDS else "normal"


REFERENCE_KINDS: dict[str, type[BaseModel]] = {
    "period": PeriodIn,
    "class": ClassIn,
    "student": StudentIn,
    "subject": SubjectIn,
    "teacher": TeacherIn,
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

    async def ensure_indexes(self) -> None:
        for collection in self._collections:
            await collection.create_index([("outbox", ASCENDING)], sparse=True)
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
        book.school = SchoolIn.model_validate(school["state"])
        return book

    async def _read_book(self, school_id: str, school: Document) -> ReferenceBook:
        book = ReferenceBook(school=SchoolIn.model_validate(school["state"]))
        cursor = self._references.find(
            {"school_id": school_id, "kind": {"$in": list(REFERENCE_KINDS)}},
            {"kind": 1, "record_id": 1, "state": 1},
        )
        async for doc in cursor:
            _section(book, doc["kind"])[doc["record_id"]] = REFERENCE_KINDS[
                doc["kind"]
            ].model_validate(doc["state"])
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
                    change.after.state
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
                    {
                        "$set": {
                            "state": change.after.state,
                            "retracted": change.after.retracted,
                            "version": change.after.version,
                            "updated_at": now,
                            "outbox": lane_of(change.key[0]),
                        },
                        "$push": {"pending_events": {"$each": [_entry(e) for e in change.events]}},
                        # Keeps its place in the relay's queue if events are already waiting.
                        "$min": {"outbox_seq": ObjectId()},
                    },
                )
            if result.matched_count == 0:
                conflicts.add(change.key)
        written = [c for c in changes if c.key not in conflicts]
        await self._count_reference_changes(school_id, written)
        self._on_written(
            [
                PendingRecord(
                    _id(school_id, c.key), c.after.version, list(c.events), lane_of(c.key[0])
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
            "pending_events": [_entry(event) for event in change.events],
            "outbox": lane_of(change.key[0]),
            # An ObjectId grows within a process, unlike a millisecond clock: one student's
            # events leave in the order they came in.
            "outbox_seq": ObjectId(),
        }

    async def records_of_student(self, school_id: str, student_id: str, kind: str) -> list[Stored]:
        cursor = self._records.find(
            {"school_id": school_id, "kind": kind, "student_id": student_id}
        ).sort("_id", ASCENDING)
        return [
            Stored(doc["state"], doc.get("retracted", False), doc["version"])
            async for doc in cursor
        ]

    # The outbox.

    async def pending_events(self, limit: int) -> list[PendingRecord]:
        """Records with unpublished events: the urgent lane first, each lane oldest first."""
        found = []
        for lane in ("urgent", "normal"):
            in_lane = []
            for collection in self._collections:
                cursor = collection.find({"outbox": lane}).sort("outbox_seq", ASCENDING)
                in_lane.extend([doc async for doc in cursor.limit(limit)])
            # Merged in queue order: a student's StudentChanged leaves before their marks.
            in_lane.sort(key=lambda doc: doc["outbox_seq"])
            found.extend(in_lane)
        return [
            PendingRecord(
                doc["_id"],
                doc["version"],
                [_event(e) for e in doc["pending_events"]],
                doc["outbox"],
            )
            for doc in found[:limit]
        ]

    async def mark_published(self, records: list[PendingRecord]) -> None:
        """Take the published events out of their records' queues: one bulk write by `_id` and
        version. A record changed since it was read (a correction came in meanwhile) keeps
        what arrived: those are done one by one."""
        for collection in self._collections:
            mine = [r for r in records if self._of_document(r.document_id) is collection]
            done = [
                UpdateOne(
                    {"_id": record.document_id, "version": record.version},
                    {"$set": {"pending_events": []}, "$unset": {"outbox": "", "outbox_seq": ""}},
                )
                for record in mine
            ]
            async with self._updating:
                if await bulk_write(collection, done) < len(mine):
                    for record in mine:
                        await self._forget_published(record)

    async def _forget_published(self, record: PendingRecord) -> None:
        collection = self._of_document(record.document_id)
        published = {str(event.event_id) for event in record.events}
        while True:
            doc = await collection.find_one({"_id": record.document_id})
            if doc is None or not published & {e["event_id"] for e in doc["pending_events"]}:
                return
            remaining = [e for e in doc["pending_events"] if e["event_id"] not in published]
            update: Document = {"$set": {"pending_events": remaining}}
            if not remaining:
                update["$unset"] = {"outbox": "", "outbox_seq": ""}
            result = await collection.update_one(
                {"_id": record.document_id, "version": doc["version"]}, update
            )
            if result.matched_count:
                return

    async def outbox_backlog(self) -> int:
        return sum(
            [
                await c.count_documents({"outbox": lane})
                for c in self._collections
                for lane in ("urgent", "normal")
            ]
        )


def _section(book: ReferenceBook, kind: str) -> dict[str, Any]:
    sections: dict[str, dict[str, Any]] = {
        "period": book.periods,
        "class": book.classes,
        "student": book.students,
        "subject": book.subjects,
        "teacher": book.teachers,
    }
    return sections[kind]


def _event(entry: Document) -> Envelope[Any]:
    return EVENTS_BY_TYPE[entry["type"]].model_validate(entry["event"])


def _entry(event: Envelope[Any]) -> Document:
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "event": event.model_dump(mode="json"),
    }


def _stored(doc: Document) -> Stored:
    return Stored(doc["state"], doc.get("retracted", False), doc["version"])
