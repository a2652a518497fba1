"""Consent's roster on MongoDB: who is in which class and group, and each school's time zone,
from the journal's `journal.reference.v1` and `journal.enrolment.v1`.

Each event updates one document it alone owns (FerretDB can lose one of two concurrent updates
of a document): one per (school, student), per (school, class, group), per (school, student,
school year) of an individual curriculum, per school. A group's event names all its students
and carries the journal record's version: an older one arriving late changes nothing. Reads are
equality queries on (school, class).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from contextlib import suppress
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas import SchoolChanged, StudentChanged
from schemas.membership import Curriculum
from schemas.timetable import GroupChanged, IndividualCurriculumChanged
from services.consent.news import Enrolment
from services.shared.mongo import Document, bulk_write
from services.shared.timezones import school_zone


class MongoRoster:
    def __init__(self, db: AsyncDatabase[Document], *, default_zone: ZoneInfo) -> None:
        self._students = db["roster_students"]
        self._groups = db["roster_groups"]
        self._curricula = db["roster_curricula"]
        self._schools = db["roster_schools"]
        self._default_zone = default_zone

    async def ensure_indexes(self) -> None:
        for collection in (self._students, self._groups, self._curricula):
            await collection.create_index([("school_id", 1), ("class_id", 1)])

    async def apply(self, events: Sequence[Any]) -> None:
        """Reference and enrolment events, in the order they came; the others are ignored.
        Safe to repeat."""
        # The last of a batch's events about one document is the one that stands.
        latest: dict[tuple[str, str], Any] = {}
        for event in events:
            if (key := _key(event)) is not None and not _older(event, latest.get(key)):
                latest[key] = event
        writes: dict[str, list[tuple[Document, Document]]] = defaultdict(list)
        for (collection, _id), event in latest.items():
            writes[collection].append(_write(_id, event))
        for name, changes in writes.items():
            if name != "groups":
                operations = [UpdateOne(query, update, upsert=True) for query, update in changes]
                await bulk_write(self._by_name(name), operations)
                continue
            # One by one: FerretDB answers a bulk write whose upsert hit a duplicate `_id` (a
            # stale version) with a reply the driver cannot read.
            for query, update in changes:
                with suppress(DuplicateKeyError):  # a later version stands
                    await self._groups.update_one(query, update, upsert=True)

    def _by_name(self, name: str) -> Any:
        return {
            "students": self._students,
            "groups": self._groups,
            "curricula": self._curricula,
            "schools": self._schools,
        }[name]

    async def enrolment(self, school_id: str, class_id: str) -> Enrolment:
        mine = {"school_id": school_id, "class_id": class_id}
        students = {doc["student_id"]: doc["name"] async for doc in self._students.find(mine)}
        groups = {
            doc["group_id"]: frozenset(doc["student_ids"]) async for doc in self._groups.find(mine)
        }
        curricula: dict[str, list[Curriculum]] = defaultdict(list)
        async for doc in self._curricula.find(mine):
            curricula[doc["student_id"]].append(
                Curriculum(
                    valid_from=date.fromisoformat(doc["valid_from"]),
                    valid_to=date.fromisoformat(doc["valid_to"]),
                    subject_ids=frozenset(doc["subject_ids"]),
                    group_ids=frozenset(doc["group_ids"]),
                )
            )
        return Enrolment(students=students, groups=groups, curricula=dict(curricula))

    async def zone(self, school_id: str) -> ZoneInfo:
        doc = await self._schools.find_one({"_id": school_id})
        return school_zone(doc["timezone"] if doc else None, self._default_zone)


def _key(event: Any) -> tuple[str, str] | None:
    p = event.payload
    match event:
        case StudentChanged():
            return "students", f"{p.school_id}/{p.student_id}"
        case GroupChanged() if p.group_id is not None:
            return "groups", f"{p.school_id}/{p.class_id}/{p.group_id}"
        case IndividualCurriculumChanged():
            return "curricula", f"{p.school_id}/{p.student_id}/{p.school_year}"
        case SchoolChanged():
            return "schools", p.school_id
    return None


def _older(event: Any, than: Any) -> bool:
    mine = getattr(event.payload, "record_version", None)
    theirs = getattr(than.payload, "record_version", None) if than is not None else None
    return mine is not None and theirs is not None and mine < theirs


def _write(_id: str, event: Any) -> tuple[Document, Document]:
    """The query and update that apply `event` to its document."""
    p = event.payload
    query: Document = {"_id": _id}
    match event:
        case StudentChanged():
            fields = {"school_id": p.school_id, "student_id": p.student_id}
            fields |= {"class_id": p.class_id, "name": p.name}
        case GroupChanged():
            # A stale version matches nothing and its upsert hits the `_id`: refused.
            if p.record_version is not None:
                query["record_version"] = {"$lt": p.record_version}
            fields = {
                "school_id": p.school_id,
                "class_id": p.class_id,
                "group_id": p.group_id,
                "student_ids": sorted(set(p.student_ids)),
                "record_version": p.record_version or 0,
            }
        case IndividualCurriculumChanged():
            fields = {
                "school_id": p.school_id,
                "class_id": p.class_id,
                "student_id": p.student_id,
                "valid_from": p.valid_from.isoformat(),
                "valid_to": p.valid_to.isoformat(),
                "subject_ids": sorted({s.subject_id for s in p.subjects}),
                "group_ids": sorted({s.group_id for s in p.subjects if s.group_id}),
            }
        case _:
            fields = {"timezone": p.timezone}
    return query, {"$set": fields}
