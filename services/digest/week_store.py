"""The read model of a school week (clause 4), beside the students' books: one document per
journal record (a timetable lesson, a lesson change, a test, a homework, a group, a student's
individual curriculum, a bell schedule, a school year's calendar, a guardian's link to a
child), so two events never update one document together.

Every key carries the school (journals reuse ids). A record's document is replaced by a newer
version only (`record_version`; facts without one in the order they came); a removal, a
retraction or a cancellation leaves a tombstone (`gone`) holding its version, so an older event
arriving late does not bring the record back. Reads are equality queries on indexed keys
(`class_key`: school/class; `school_id`), as FerretDB pushes down no others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from schemas.classwork import AssessmentFacts, HomeworkFacts
from schemas.curriculum import LessonHeldFacts, StudyPlanChangedPayload
from schemas.schoolweek import ClassBook, SchoolFacts, Teacher
from schemas.timetable import (
    BellScheduleChangedPayload,
    GroupChangedPayload,
    IndividualCurriculumChangedPayload,
    LessonChangeFacts,
    SchoolCalendarChangedPayload,
    TimetableLessonFacts,
)
from services.shared.mongo import Document, put_versioned

M = TypeVar("M", bound=BaseModel)

COLLECTIONS = (
    "timetable_lessons",
    "lesson_changes",
    "assessments",
    "homework",
    "groups",
    "curricula",
    "bell_schedules",
    "calendars",
    "study_plans",  # issue 15: the curriculum
    "lessons_held",  # issue 15: a class's lessons, its most numerous records
)


@dataclass(frozen=True)
class Record:
    """One journal record as the digest keeps it: `fact` the record as it is now (the facts
    model's fields only), `gone` when it was removed, retracted or cancelled."""

    collection: str
    record_id: str  # school/… : unique in its collection
    school_id: str
    fact: BaseModel
    version: int | None = None
    class_id: str | None = None
    gone: bool = False


def record(
    collection: str,
    record_id: str,
    payload: Any,
    facts: type[BaseModel],
    *,
    gone: bool = False,
) -> Record:
    """`payload` kept as its `facts` model (what a posted, corrected or retracted event
    share), keyed by its school and `record_id`."""
    fact = facts.model_validate(payload.model_dump(include=set(facts.model_fields)))
    class_id = getattr(payload, "class_id", None)
    return Record(
        collection,
        f"{payload.school_id}/{record_id}",
        payload.school_id,
        fact,
        getattr(payload, "record_version", None),
        class_id,
        gone,
    )


def newest(records: Sequence[Record]) -> list[Record]:
    """One record per document from a batch: the newest version, else the latest to come."""
    kept: dict[tuple[str, str], Record] = {}
    for rec in records:
        key = (rec.collection, rec.record_id)
        before = kept.get(key)
        if before is None or rec.version is None or (before.version or 0) <= rec.version:
            kept[key] = rec
    return list(kept.values())


def _document(rec: Record) -> Document:
    document: Document = {
        "_id": rec.record_id,
        "school_id": rec.school_id,
        "fact": rec.fact.model_dump(mode="json"),
        "gone": rec.gone,
    }
    if rec.class_id is not None:
        document["class_key"] = f"{rec.school_id}/{rec.class_id}"
    if rec.version is not None:
        document["record_version"] = rec.version
    return document


class MongoWeekStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._guardians = db["guardians"]  # school/guardian/student: the consent's links
        self._teachers = db["teachers"]  # shared with MongoDigestStore: TeacherChanged
        self._students = db["students"]

    def _of(self, name: str) -> AsyncCollection[Document]:
        return self._db[name]

    async def ensure_indexes(self) -> None:
        for name in COLLECTIONS:
            await self._of(name).create_index([("class_key", 1)])
            await self._of(name).create_index([("school_id", 1)])
        await self._teachers.create_index([("school_id", 1)])
        await self._guardians.create_index([("guardian_key", 1)])

    async def put(self, records: Sequence[Record]) -> None:
        """Write a batch of records, each only over an older version of itself: replace
        those held in an older version, then insert the batch's records that are not there
        yet (the others are duplicates, ignored). One consumer writes a class's records (its
        partition), so nothing comes in between."""
        by_collection: dict[str, list[Document]] = {}
        for rec in newest(records):
            by_collection.setdefault(rec.collection, []).append(_document(rec))
        for name, documents in by_collection.items():
            await put_versioned(self._of(name), documents)

    async def _live(self, name: str, query: Document, model: type[M]) -> list[M]:
        found = self._of(name).find(query, {"fact": 1, "gone": 1})
        return [model.model_validate(doc["fact"]) async for doc in found if not doc.get("gone")]

    # Guardians (ConsentGranted links a guardian to a child; a revocation or refusal unlinks).

    async def link_guardian(self, school_id: str, guardian_id: str, student_id: str) -> None:
        await self._guardians.replace_one(
            {"_id": f"{school_id}/{guardian_id}/{student_id}"},
            {
                "school_id": school_id,
                "guardian_key": f"{school_id}/{guardian_id}",
                "student_id": student_id,
            },
            upsert=True,
        )

    async def unlink_guardian(self, school_id: str, guardian_id: str, student_id: str) -> None:
        await self._guardians.delete_one({"_id": f"{school_id}/{guardian_id}/{student_id}"})

    async def is_guardian(self, school_id: str, guardian_id: str, student_id: str) -> bool:
        found = await self._guardians.find_one({"_id": f"{school_id}/{guardian_id}/{student_id}"})
        return found is not None

    async def children_of(self, school_id: str, guardian_id: str) -> list[str]:
        found = self._guardians.find({"guardian_key": f"{school_id}/{guardian_id}"})
        return sorted([doc["student_id"] async for doc in found])

    # What the week, the class's teachers, the calendar and the weekly run read.

    async def school_facts(self, school_id: str) -> SchoolFacts:
        query = {"school_id": school_id}
        teachers = [
            Teacher(
                doc["_id"].split("/", 1)[1],
                str(doc.get("name") or doc["_id"].split("/", 1)[1]),
                frozenset((a["class_id"], a["subject_id"]) for a in doc.get("assignments", [])),
            )
            async for doc in self._teachers.find(query)
        ]
        return SchoolFacts(
            calendars=await self._live("calendars", query, SchoolCalendarChangedPayload),
            bells=await self._live("bell_schedules", query, BellScheduleChangedPayload),
            teachers=teachers,
        )

    async def class_book(self, school_id: str, class_id: str) -> ClassBook:
        query = {"class_key": f"{school_id}/{class_id}"}
        students = self._students.find(
            {"school_id": school_id, "class_id": class_id}, {"student_id": 1}
        )
        return ClassBook(
            class_id=class_id,
            student_ids=frozenset([doc["student_id"] async for doc in students]),
            groups=await self._live("groups", query, GroupChangedPayload),
            curricula=await self._live("curricula", query, IndividualCurriculumChangedPayload),
            lessons=await self._live("timetable_lessons", query, TimetableLessonFacts),
            changes=await self._live("lesson_changes", query, LessonChangeFacts),
            assessments=await self._live("assessments", query, AssessmentFacts),
            homework=await self._live("homework", query, HomeworkFacts),
        )

    async def class_known(self, school_id: str, class_id: str) -> bool:
        """Whether the journal named the class: a student in it, or any record of it."""
        if await self._students.find_one({"school_id": school_id, "class_id": class_id}):
            return True
        key = {"class_key": f"{school_id}/{class_id}"}
        for name in ("timetable_lessons", "groups"):
            if await self._of(name).find_one(key, {"_id": 1}):
                return True
        return False

    async def study_plans(self, school_id: str) -> list[StudyPlanChangedPayload]:
        return await self._live("study_plans", {"school_id": school_id}, StudyPlanChangedPayload)

    async def lessons_held(self, school_id: str, class_id: str) -> list[LessonHeldFacts]:
        query = {"class_key": f"{school_id}/{class_id}"}
        return await self._live("lessons_held", query, LessonHeldFacts)

    async def curricula(
        self, school_id: str, class_id: str
    ) -> list[IndividualCurriculumChangedPayload]:
        query = {"class_key": f"{school_id}/{class_id}"}
        return await self._live("curricula", query, IndividualCurriculumChangedPayload)

    async def calendars(self, school_id: str) -> list[SchoolCalendarChangedPayload]:
        return await self._live("calendars", {"school_id": school_id}, SchoolCalendarChangedPayload)
