"""The grades repository on MongoDB, with the transactional outbox.

A mark and its pending event are one document, written by one insert: there is no moment
when one exists without the other. The relay publishes `pending_events` and pulls them out.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas import Envelope, MarkPosted
from schemas.topics import EVENTS_BY_TYPE
from services.grades.domain import Mark, MarkConflictError, MarkOutcome, Student, Subject, Teacher
from services.shared.mongo import Document


def _key(school_id: str, record_id: str) -> str:
    return f"{school_id}/{record_id}"


class MongoGradesStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._students = db["students"]
        self._subjects = db["subjects"]
        self._teachers = db["teachers"]
        self._marks = db["marks"]

    async def ensure_indexes(self) -> None:
        await self._marks.create_index([("outbox_seq", ASCENDING)], name="outbox_order")

    # Reference data: upserted whole by the journal.

    async def save_student(self, student: Student) -> None:
        await self._save(self._students, student.school_id, student.student_id, asdict(student))

    async def save_subject(self, subject: Subject) -> None:
        await self._save(self._subjects, subject.school_id, subject.subject_id, asdict(subject))

    async def save_teacher(self, teacher: Teacher) -> None:
        await self._save(self._teachers, teacher.school_id, teacher.teacher_id, asdict(teacher))

    async def student(self, school_id: str, student_id: str) -> Student | None:
        doc = await self._students.find_one({"_id": _key(school_id, student_id)}, {"_id": 0})
        return Student(**doc) if doc else None

    async def subject(self, school_id: str, subject_id: str) -> Subject | None:
        doc = await self._subjects.find_one({"_id": _key(school_id, subject_id)}, {"_id": 0})
        return Subject(**doc) if doc else None

    async def teacher(self, school_id: str, teacher_id: str) -> Teacher | None:
        doc = await self._teachers.find_one({"_id": _key(school_id, teacher_id)}, {"_id": 0})
        return Teacher(**doc) if doc else None

    async def _save(
        self, collection: Any, school_id: str, record_id: str, fields: Document
    ) -> None:
        await collection.replace_one({"_id": _key(school_id, record_id)}, fields, upsert=True)

    # Marks and the outbox.

    async def add_mark(self, mark: Mark, event: MarkPosted) -> MarkOutcome:
        try:
            await self._marks.insert_one(
                {
                    "_id": _key(mark.school_id, mark.mark_id),
                    "mark": mark.fingerprint(),
                    "accepted_at": datetime.now(UTC),
                    # Orders the relay (an ObjectId grows within a process, unlike a ms clock):
                    # one student's events leave in the order they came in.
                    "outbox_seq": ObjectId(),
                    "pending_events": [_outbox_entry(event)],
                }
            )
        except DuplicateKeyError:
            existing = await self._marks.find_one({"_id": _key(mark.school_id, mark.mark_id)})
            if existing is not None and existing["mark"] == mark.fingerprint():
                return "duplicate"
            raise MarkConflictError(mark.mark_id) from None
        return "accepted"

    async def pending_events(self, limit: int = 100) -> list[tuple[str, Envelope[Any]]]:
        """The oldest unpublished events, as (document id, event)."""
        cursor = (
            self._marks.find({"pending_events.0": {"$exists": True}}, {"pending_events": 1})
            .sort("outbox_seq", ASCENDING)
            .limit(limit)
        )
        found = []
        async for doc in cursor:
            for entry in doc["pending_events"]:
                event_type = EVENTS_BY_TYPE[entry["type"]]
                found.append((doc["_id"], event_type.model_validate(entry["event"])))
        return found

    async def mark_published(self, document_id: str, event: Envelope[Any]) -> None:
        # Events leave from the head of the list, so popping the head when it is this event is
        # exact, and also works where FerretDB lacks `$pull` by condition.
        await self._marks.update_one(
            {"_id": document_id, "pending_events.0.event_id": str(event.event_id)},
            {"$pop": {"pending_events": -1}},
        )


def _outbox_entry(event: Envelope[Any]) -> Document:
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "event": event.model_dump(mode="json"),
    }
