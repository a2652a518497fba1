"""The grades repository on MongoDB: every journal and reference record, with its outbox.

One collection holds every record as `{school}/{kind}/{id}`. A record and the events its
change produced are written by one single-document operation: there is no moment when one
exists without the other, and no multi-document transaction is needed (FerretDB has none).
While a record has pending events it carries an `outbox_seq`; the relay publishes in that order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from schemas import Envelope
from schemas.topics import EVENTS_BY_TYPE
from services.grades.domain import Change, EntryKey, Stored
from services.grades.facts import ReferenceBook
from services.grades.items import ClassIn, PeriodIn, SchoolIn, StudentIn, SubjectIn, TeacherIn
from services.shared.mongo import Document

DUPLICATE_KEY = 11000
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
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        # Reference data apart from the journal's records: a batch reads all of the former.
        self._references = db["references"]
        self._records = db["records"]
        self._collections = (self._references, self._records)

    async def ensure_indexes(self) -> None:
        for collection in self._collections:
            await collection.create_index([("outbox_seq", ASCENDING)], sparse=True)
        await self._records.create_index([("school_id", 1), ("kind", 1), ("student_id", 1)])

    async def reference_book(self, school_id: str) -> ReferenceBook | None:
        """All of a school's reference data: a school's worth is small, one query is enough."""
        school = await self._references.find_one({"_id": _id(school_id, ("school", school_id))})
        if school is None:
            return None
        book = ReferenceBook(school=SchoolIn.model_validate(school["state"]))
        sections: dict[str, dict[str, Any]] = {
            "period": book.periods, "class": book.classes, "student": book.students,
            "subject": book.subjects, "teacher": book.teachers,
        }  # fmt: skip
        cursor = self._references.find(
            {"school_id": school_id, "kind": {"$in": list(REFERENCE_KINDS)}},
            {"kind": 1, "record_id": 1, "state": 1},
        )
        async for doc in cursor:
            model = REFERENCE_KINDS[doc["kind"]]
            sections[doc["kind"]][doc["record_id"]] = model.model_validate(doc["state"])
        return book

    async def load(self, school_id: str, keys: list[EntryKey]) -> dict[EntryKey, Stored]:
        found = {}
        for collection in self._collections:
            ids = [_id(school_id, key) for key in set(keys) if self._of(key[0]) is collection]
            if ids:
                async for doc in collection.find({"_id": {"$in": ids}}):
                    found[doc["kind"], doc["record_id"]] = _stored(doc)
        return found

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
            result = await self._of(change.key[0]).update_one(
                {"_id": _id(school_id, change.key), "version": change.before.version},
                {
                    "$set": {
                        "state": change.after.state,
                        "retracted": change.after.retracted,
                        "version": change.after.version,
                        "updated_at": now,
                    },
                    "$push": {"pending_events": {"$each": [_entry(e) for e in change.events]}},
                    # Keeps its place in the relay's queue if events are already waiting.
                    "$min": {"outbox_seq": ObjectId()},
                },
            )
            if result.matched_count == 0:
                conflicts.add(change.key)
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

    async def pending_events(self, limit: int) -> list[tuple[str, list[Envelope[Any]]]]:
        """Records with unpublished events, oldest first, as (document id, its events)."""
        found = []
        for collection in self._collections:
            cursor = (
                collection.find({"outbox_seq": {"$exists": True}})
                .sort("outbox_seq", ASCENDING)
                .limit(limit)
            )
            found.extend([doc async for doc in cursor])
        # Merged in queue order: a student's StudentChanged leaves before their marks.
        found.sort(key=lambda doc: doc["outbox_seq"])
        return [
            (doc["_id"], [_event(entry) for entry in doc["pending_events"]])
            for doc in found[:limit]
        ]

    async def mark_published(self, document_id: str, events: list[Envelope[Any]]) -> None:
        """Take `events` out of the record's queue, keeping whatever arrived meanwhile.

        One write by `_id` in the usual case: FerretDB uses no index for any other filter.
        """
        collection = self._of_document(document_id)
        before = await collection.find_one_and_update(
            {"_id": document_id},
            {"$set": {"pending_events": []}, "$unset": {"outbox_seq": ""}},
            return_document=ReturnDocument.BEFORE,
        )
        published = {str(event.event_id) for event in events}
        arrived = [
            e for e in (before or {}).get("pending_events", []) if e["event_id"] not in published
        ]
        while arrived:
            # Rare: a correction came in between our read and our write. Put its events back
            # in front of anything newer (FerretDB ignores `$position`, so set the whole list).
            doc = await collection.find_one({"_id": document_id})
            assert doc is not None
            result = await collection.update_one(
                {"_id": document_id, "version": doc["version"]},
                {
                    "$set": {"pending_events": arrived + doc["pending_events"]},
                    "$min": {"outbox_seq": ObjectId()},
                },
            )
            if result.matched_count:
                break

    async def outbox_backlog(self) -> int:
        pending = {"outbox_seq": {"$exists": True}}
        return sum([await c.count_documents(pending) for c in self._collections])


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
