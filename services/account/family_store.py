"""The account's own read model of what a family sees, fed from the topics (never another
service's API), on MongoDB.

One document per journal record, in one of three collections by what it belongs to, so one
indexed equality read answers a page: a student's (marks, absences, final marks, exam results,
recommendations, the digest's forecasts: `student_key`), a class's (its students, groups,
individual curricula, timetable, lesson changes, tests, homework: `class_key`) and a school's
(the school, its periods, teachers, calendars, bell schedules: `school_id`). Beside them the
inbox, one document per notice and recipient (`recipient_key`). Every key carries the school:
journals reuse ids.

A record is replaced by a newer version only (`record_version`; facts without one in the order
they came); a retraction, removal or cancellation leaves a tombstone (`gone`) holding its
version, so an older event arriving late does not bring it back. Two subscribers never write
one document (each record comes from one topic), which FerretDB needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from schemas.classwork import AssessmentFacts, HomeworkFacts, RecommendationFacts
from schemas.digest import WeeklyDigestPayload
from schemas.journal import (
    AbsenceRecordedPayload,
    ExamResultPostedPayload,
    FinalMarkDeferredPayload,
    FinalMarkPostedPayload,
    MarkFacts,
    PeriodChangedPayload,
    SchoolChangedPayload,
    StudentChangedPayload,
    TeacherChangedPayload,
)
from schemas.notify import NotifiableFacts, NotificationRequestedPayload
from schemas.schoolweek import ClassBook, SchoolFacts, Teacher
from schemas.timetable import (
    BellScheduleChangedPayload,
    GroupChangedPayload,
    IndividualCurriculumChangedPayload,
    LessonChangeFacts,
    SchoolCalendarChangedPayload,
    TimetableLessonFacts,
)
from services.account.family import InboxItem
from services.shared.mongo import BULK_CHUNK, Document, insert_new, put_versioned
from services.shared.pages import encode_cursor, find_page
from services.shared.retention import RetentionRule

Scope = Literal["student", "class", "school"]
COLLECTIONS: dict[Scope, tuple[str, str]] = {  # scope: (collection, its key)
    "student": ("family_student_records", "student_key"),
    "class": ("family_class_records", "class_key"),
    "school": ("family_school_records", "school_id"),
}
INBOX = "family_inbox"

# What a record's document holds, by the model it was kept as.
MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        MarkFacts,
        AbsenceRecordedPayload,
        FinalMarkPostedPayload,
        FinalMarkDeferredPayload,
        ExamResultPostedPayload,
        RecommendationFacts,
        WeeklyDigestPayload,
        StudentChangedPayload,
        GroupChangedPayload,
        IndividualCurriculumChangedPayload,
        TimetableLessonFacts,
        LessonChangeFacts,
        AssessmentFacts,
        HomeworkFacts,
        SchoolChangedPayload,
        PeriodChangedPayload,
        TeacherChangedPayload,
        SchoolCalendarChangedPayload,
        BellScheduleChangedPayload,
    )
}
_FACTS: TypeAdapter[NotifiableFacts] = TypeAdapter(NotifiableFacts)


@dataclass(frozen=True)
class Record:
    """One journal record as the account keeps it: `fact` as it is now, `gone` when it was
    retracted, removed or cancelled. `kind` tells records of one scope apart."""

    scope: Scope
    kind: str
    key: str  # school/student, school/class or school
    record_id: str  # unique in its scope (it carries the school)
    fact: BaseModel
    version: int | None = None
    gone: bool = False


def record(
    scope: Scope,
    kind: str,
    record_id: str,
    payload: Any,
    model: type[BaseModel],
    *,
    version: int | None = None,
    gone: bool = False,
) -> Record:
    """`payload` kept as `model` (what its posted, corrected and retracted events share)."""
    school_id = payload.school_id
    fact = model.model_validate(payload.model_dump(include=set(model.model_fields)))
    owner = {"student": "student_id", "class": "class_id"}.get(scope)
    key = f"{school_id}/{getattr(payload, owner)}" if owner else school_id
    held = version if version is not None else getattr(payload, "record_version", None)
    return Record(scope, kind, key, f"{school_id}/{kind}/{record_id}", fact, held, gone)


def newest(records: Sequence[Record]) -> list[Record]:
    """One record per document from a batch: the newest version, else the latest to come."""
    kept: dict[tuple[Scope, str], Record] = {}
    for rec in records:
        before = kept.get((rec.scope, rec.record_id))
        if before is None or rec.version is None or (before.version or 0) <= rec.version:
            kept[(rec.scope, rec.record_id)] = rec
    return list(kept.values())


def _document(rec: Record) -> Document:
    document: Document = {
        "_id": rec.record_id,
        COLLECTIONS[rec.scope][1]: rec.key,
        "kind": rec.kind,
        "model": type(rec.fact).__name__,
        "fact": rec.fact.model_dump(mode="json"),
        "gone": rec.gone,
    }
    if rec.version is not None:
        document["record_version"] = rec.version
    return document


def _fact(doc: Document) -> BaseModel:
    return MODELS[doc["model"]].model_validate(doc["fact"])


class MongoFamilyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._scopes: dict[Scope, AsyncCollection[Document]] = {
            scope: db[name] for scope, (name, _) in COLLECTIONS.items()
        }
        self._inbox = db[INBOX]

    async def ensure_indexes(self) -> None:
        """Every read is an equality on one of these (FerretDB pushes down no other)."""
        for scope, (_, key) in COLLECTIONS.items():
            await self._scopes[scope].create_index([(key, 1), ("kind", 1), ("gone", 1)])
        await self._inbox.create_index([("recipient_key", 1), ("occurred_at", -1)])
        await self._inbox.create_index([("occurred_at", 1)])

    def retention_rules(self, *, inbox: timedelta) -> list[RetentionRule]:
        """The inbox goes after `inbox`; the records mirror the journal's and go with it."""
        return [RetentionRule(self._inbox, "occurred_at", inbox)]

    # Writing.

    async def put(self, records: Sequence[Record]) -> None:
        """A batch of records, each only over an older version of itself: replace those held
        in an older version, then insert the ones not there yet (the others are duplicates
        or newer, ignored). One consumer writes a record's topic partition, so nothing comes
        in between."""
        by_scope: dict[Scope, list[Document]] = {}
        for rec in newest(records):
            by_scope.setdefault(rec.scope, []).append(_document(rec))
        for scope, documents in by_scope.items():
            await put_versioned(self._scopes[scope], documents)

    async def put_inbox(
        self, requests: Sequence[tuple[NotificationRequestedPayload, datetime]]
    ) -> None:
        """Notices for the inbox, once each (a redelivery keeps the read state)."""
        documents = [_inbox_document(request, at) for request, at in requests]
        for start in range(0, len(documents), BULK_CHUNK):
            await insert_new(self._inbox, documents[start : start + BULK_CHUNK])

    # Reading: one indexed equality each.

    async def _live(self, scope: Scope, key: str, kind: str | None = None) -> list[Document]:
        query: Document = {COLLECTIONS[scope][1]: key, "gone": False}
        if kind is not None:
            query["kind"] = kind
        return [
            doc
            async for doc in self._scopes[scope].find(
                query, {"_id": 0, "model": 1, "fact": 1, "kind": 1}
            )
        ]

    async def student(self, school_id: str, student_id: str) -> StudentChangedPayload | None:
        doc = await self._scopes["class"].find_one({"_id": f"{school_id}/student/{student_id}"})
        return StudentChangedPayload.model_validate(doc["fact"]) if doc else None

    async def of_student(self, school_id: str, student_id: str, kind: str) -> list[Any]:
        """The student's live records of one kind (`mark`, `absence`, `final`, `exam`,
        `recommendation`, `digest`)."""
        return [
            _fact(doc) for doc in await self._live("student", f"{school_id}/{student_id}", kind)
        ]

    async def class_book(self, school_id: str, class_id: str) -> ClassBook:
        facts: dict[str, list[Any]] = {}
        for doc in await self._live("class", f"{school_id}/{class_id}"):
            facts.setdefault(doc["kind"], []).append(_fact(doc))
        return ClassBook(
            class_id=class_id,
            student_ids=frozenset(s.student_id for s in facts.get("student", [])),
            groups=facts.get("group", []),
            curricula=facts.get("curriculum", []),
            lessons=facts.get("lesson", []),
            changes=facts.get("change", []),
            assessments=facts.get("assessment", []),
            homework=facts.get("homework", []),
        )

    async def school(
        self, school_id: str
    ) -> tuple[SchoolFacts, list[PeriodChangedPayload], SchoolChangedPayload | None]:
        """The school's calendars, bells and teachers, its periods, and its name and zone."""
        facts: dict[str, list[Any]] = {}
        for doc in await self._live("school", school_id):
            facts.setdefault(doc["kind"], []).append(_fact(doc))
        teachers = [
            Teacher(
                t.teacher_id, t.name, frozenset((a.class_id, a.subject_id) for a in t.assignments)
            )
            for t in facts.get("teacher", [])
        ]
        school = SchoolFacts(
            calendars=facts.get("calendar", []), bells=facts.get("bells", []), teachers=teachers
        )
        named = facts.get("school", [])
        return school, facts.get("period", []), named[0] if named else None

    # The inbox.

    async def inbox(
        self, school_id: str, recipient_id: str, *, limit: int, after: str | None
    ) -> tuple[list[InboxItem], str | None]:
        """The recipient's notices, the newest first, `limit` a page from the cursor `after`
        (InvalidCursorError for one this list did not give out)."""
        documents, next_cursor = await find_page(
            self._inbox,
            {"recipient_key": f"{school_id}/{recipient_id}"},
            order="occurred_at",
            direction=-1,
            limit=limit,
            after=after,
        )
        return [_inbox_item(doc) for doc in documents], next_cursor

    async def first_page(
        self, school_id: str, recipient_id: str, *, limit: int
    ) -> tuple[list[InboxItem], str | None, int]:
        """The inbox's first page (as `inbox` gives it) and how many are unread, from one read
        of the recipient's notices: FerretDB pushes down neither the sort nor the limit, so
        the page reads every notice anyway, and a second read for the count doubled the
        inbox's time (`make bench-account`)."""
        found = self._inbox.find({"recipient_key": f"{school_id}/{recipient_id}"})
        documents = sorted(
            [doc async for doc in found], key=lambda d: (d["occurred_at"], d["_id"]), reverse=True
        )
        next_cursor = None
        if len(documents) > limit:
            last = documents[limit - 1]
            next_cursor = encode_cursor(last["occurred_at"], last["_id"])
        unread = sum(1 for doc in documents if not doc["read"])
        return [_inbox_item(doc) for doc in documents[:limit]], next_cursor, unread

    async def unread(self, school_id: str, recipient_id: str) -> int:
        # A find, not count_documents (an aggregation): FerretDB pushes a find's equalities
        # down to the index.
        unread = self._inbox.find(
            {"recipient_key": f"{school_id}/{recipient_id}", "read": False}, {"_id": 1}
        )
        return len([doc async for doc in unread])

    async def open(self, school_id: str, recipient_id: str, item_id: str) -> InboxItem | None:
        """The notice, marked read (opening it is reading it); None: not the recipient's."""
        doc_id = f"{school_id}/{recipient_id}/{item_id}"
        doc = await self._inbox.find_one({"_id": doc_id})
        if doc is None:
            return None
        if not doc["read"]:
            await self._inbox.update_one({"_id": doc_id}, {"$set": {"read": True}})
        return _inbox_item({**doc, "read": True})

    async def mark_read(self, school_id: str, recipient_id: str, item_id: str) -> bool:
        found = await self._inbox.update_one(
            {"_id": f"{school_id}/{recipient_id}/{item_id}"}, {"$set": {"read": True}}
        )
        return found.matched_count > 0


def _inbox_document(request: NotificationRequestedPayload, at: datetime) -> Document:
    school_id = request.content.school_id
    return {
        "_id": f"{school_id}/{request.recipient_id}/{request.dedupe_key}",
        "item_id": request.dedupe_key,
        "recipient_key": f"{school_id}/{request.recipient_id}",
        "category": request.category,
        "occurred_at": at,
        "fact": request.content.model_dump(mode="json"),
        "student_names": list(request.student_names),
        "read": False,
    }


def _inbox_item(doc: Document) -> InboxItem:
    return InboxItem(
        item_id=doc["item_id"],
        category=doc["category"],
        occurred_at=doc["occurred_at"],
        fact=_FACTS.validate_python(doc["fact"]),
        read=doc["read"],
        student_names=tuple(doc.get("student_names", ())),
    )
