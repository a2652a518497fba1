"""The digest's read model on MongoDB, rebuilt from the topics by replaying them.

One document per student (`students`): every mark, absence, final mark and exam result the
journal published, each in a map slot keyed by its own id, so a redelivered event overwrites
itself and a correction or retraction replaces or empties the slot. Alongside: the schools and
their periods and forecast rules, who declared paper only, the weekly runs and the printouts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas.journal import (
    AbsenceRecordedPayload,
    ExamResultPostedPayload,
    FinalMarkDeferredPayload,
    FinalMarkPostedPayload,
    MarkFacts,
    StudentChangedPayload,
    StudentFacts,
)
from services.digest.domain import Absence, ExamResult, FinalMark, Period, StudentBook
from services.digest.forecast import ForecastRules, Mark
from services.shared.mongo import Document, bulk_write, insert_new
from services.shared.retention import RetentionRule


@dataclass(frozen=True)
class Slot:
    """One fact about a student, in the slot keyed by the journal's own id; `value` None
    empties the slot (a retracted mark). `record` is the journal record the fact comes from,
    whose version (`facts.record_version`) orders its facts."""

    facts: StudentFacts
    field: str
    key: str
    value: Document | None
    record: str = ""

    @property
    def version(self) -> int | None:
        return self.facts.record_version


def mark_slot(mark: MarkFacts, *, retracted: bool = False) -> Slot:
    value = mark.model_dump(
        mode="json",
        include={
            "mark_id",
            "subject_id",
            "subject_name",
            "lesson_date",
            "value",
            "work_type",
            "weight",
            "comment",
        },
    )
    return Slot(mark, "marks", mark.mark_id, None if retracted else value, mark.mark_id)


def absence_slot(absence: AbsenceRecordedPayload) -> Slot:
    value = absence.model_dump(
        mode="json", include={"lesson_date", "subject_id", "subject_name", "code_label"}
    )
    return Slot(absence, "absences", absence.absence_id, value, absence.absence_id)


def final_mark_slot(final: FinalMarkPostedPayload | FinalMarkDeferredPayload) -> Slot:
    # One slot per subject and period: the mark that follows a deferral replaces it.
    value: Document = {
        "subject_id": final.subject_id,
        "subject_name": final.subject_name,
        "period_name": final.period_name,
        "obtained_on": final.obtained_at.date().isoformat(),
        "value": None,
        "deferred_until": None,
    }
    if isinstance(final, FinalMarkDeferredPayload):
        value["deferred_until"] = final.deferred_until.isoformat()
    else:
        value["value"] = final.value
    key = f"{final.subject_id}/{final.period_id}"
    return Slot(final, "finals", key, value, final.final_mark_id)


def exam_result_slot(result: ExamResultPostedPayload) -> Slot:
    value = {
        "subject_id": result.subject_id,
        "title": result.title,
        "value": result.value,
        "obtained_on": result.obtained_at.date().isoformat(),
    }
    return Slot(result, "exams", result.result_id, value, result.result_id)


# What a school registered before the digest recorded registrations counts as: long ago.
LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def _slot(key: str) -> str:
    # Map keys are the hex of the journal's ids: field names may not hold '.' or '$'.
    return key.encode().hex()


def _not_older(slot: Slot, before: Slot | None) -> bool:
    """Whether `slot` replaces `before` (earlier in the batch): facts without a version
    (published before versions existed) in the order they came."""
    return before is None or slot.version is None or (before.version or 0) <= slot.version


def _version_path(slot: Slot) -> str:
    return f"versions.{slot.field}.{_slot(slot.record)}"


def _none_as_new(changes: dict[str, Slot]) -> Document:
    """A filter: no slot of `changes` holds the same or a later version already."""
    versioned = [slot for slot in changes.values() if slot.version is not None]
    if not versioned:
        return {}
    return {"$nor": [{_version_path(slot): {"$gte": slot.version}} for slot in versioned]}


def _update(facts: StudentFacts, changes: dict[str, Slot]) -> Document:
    versions = {
        _version_path(slot): slot.version for slot in changes.values() if slot.version is not None
    }
    update: Document = {
        "$set": {
            **{path: slot.value for path, slot in changes.items() if slot.value is not None},
            **versions,
            "name": facts.student_name,
            "class_name": facts.class_name,
        },
        "$setOnInsert": {
            "school_id": facts.school_id,
            "student_id": facts.student_id,
            "class_id": facts.class_name,
        },
    }
    if emptied := {path: "" for path, slot in changes.items() if slot.value is None}:
        update["$unset"] = emptied
    return update


class MongoDigestStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._students = db["students"]
        self._schools = db["schools"]
        self._periods = db["periods"]
        self._paper_only = db["paper_only"]
        self._runs = db["weekly_runs"]
        self._published = db["weekly_published"]  # who has had which week: one per student
        self._printouts = db["printouts"]
        self._teachers = db["teachers"]  # who teaches which subject to which class
        # FerretDB (the local stack) updates a document by reading, changing and writing it
        # back, without a lock: two subscribers updating one student at once could lose a
        # fact. Updates of students take turns here (MongoDB needs none).
        self._updating = asyncio.Lock()

    def retention_rules(
        self, *, printouts: timedelta, published: timedelta, runs: timedelta
    ) -> list[RetentionRule]:
        """What the digest wrote about students, and how long each is kept (the read model
        itself mirrors the journal, and goes when grades lets it go)."""
        return [
            RetentionRule(self._printouts, "hand_over_by", printouts),
            RetentionRule(self._published, "published_at", published),
            RetentionRule(self._runs, "started_at", runs),
        ]

    async def ensure_indexes(self) -> None:
        await self._students.create_index([("school_id", 1)])
        await self._students.create_index([("school_id", 1), ("class_id", 1)])
        await self._periods.create_index([("school_id", 1)])
        await self._paper_only.create_index([("school_id", 1)])
        await self._printouts.create_index([("hand_over_by", 1)])
        await self._published.create_index([("run", 1)])
        await self._published.create_index([("published_at", 1)])
        await self._runs.create_index([("started_at", 1)])
        await self._schools.update_many(
            {"timezone": {"$exists": True}, "registered_at": {"$exists": False}},
            {"$set": {"registered_at": LONG_AGO}},
        )

    # The journal's facts.

    async def apply(self, slots: list[Slot]) -> None:
        """Write a batch of facts: one update per student (in one bulk write), each slot set or
        emptied as the newest fact about it in the batch says.

        A record's facts apply by its version (`versions.<field>.<record>` keeps the last one
        applied, retractions included), so an older fact arriving late (two grades relays, a
        redelivery) never wins. Each update applies only if no slot of it holds the same or a
        later version already, which is the rule almost always; when one of the batch does
        not (or a student is new), the batch's students are read and written one by one."""
        students: dict[str, tuple[StudentFacts, dict[str, Slot]]] = {}
        for slot in slots:
            student_id = f"{slot.facts.school_id}/{slot.facts.student_id}"
            _, changes = students.get(student_id, (slot.facts, {}))
            path = f"{slot.field}.{_slot(slot.key)}"
            if _not_older(slot, changes.get(path)):
                changes[path] = slot
            students[student_id] = (slot.facts, changes)  # the latest facts name the student
        operations = [
            UpdateOne({"_id": student_id, **_none_as_new(changes)}, _update(facts, changes))
            for student_id, (facts, changes) in students.items()
        ]
        added: Counter[str] = Counter()
        async with self._updating:
            if await bulk_write(self._students, operations) == len(operations):
                return
            for student_id, (facts, changes) in students.items():
                if await self._apply_newer(student_id, facts, changes):
                    added[facts.school_id] += 1
        await self._count_added(added)

    async def _apply_newer(
        self, student_id: str, facts: StudentFacts, changes: dict[str, Slot]
    ) -> bool:
        """Only the slots newer than what the student's document holds (under `_updating`;
        one consumer writes a student's facts of a topic). True when the student is new."""
        doc = await self._students.find_one({"_id": student_id}, {"versions": 1}) or {}
        held = doc.get("versions", {})
        newer = {
            path: slot
            for path, slot in changes.items()
            if slot.version is None
            or held.get(slot.field, {}).get(_slot(slot.record), 0) < slot.version
        }
        result = await self._students.update_one(
            {"_id": student_id}, _update(facts, newer), upsert=True
        )
        return result.upserted_id is not None

    async def put_student(self, student: StudentChangedPayload) -> None:
        async with self._updating:
            result = await self._students.update_one(
                {"_id": f"{student.school_id}/{student.student_id}"},
                {
                    "$set": {
                        "name": student.name,
                        "class_id": student.class_id,
                        "class_name": student.class_name,
                        "education_level": student.education_level,
                        "school_id": student.school_id,
                        "student_id": student.student_id,
                    }
                },
                upsert=True,
            )
        if result.upserted_id is not None:
            await self._count_added({student.school_id: 1})

    async def _count_added(self, schools: dict[str, int]) -> None:
        """A student new to the read model moves their school's count on: a week whose run saw
        a lower count is due again, for the students it did not know (see `weekly.due_runs`)."""
        for school_id, count in schools.items():
            await self._schools.update_one(
                {"_id": school_id}, {"$inc": {"students_added": count}}, upsert=True
            )

    async def put_school(
        self, school_id: str, name: str, timezone: str, registered_at: datetime
    ) -> None:
        """`registered_at` is when the journal's change happened: the first of them (the
        registration) stays, so a replay of the topic gives the same value."""
        await self._schools.update_one(
            {"_id": school_id},
            {
                "$set": {"name": name, "timezone": timezone},
                "$min": {"registered_at": registered_at},
            },
            upsert=True,
        )

    async def put_period(self, school_id: str, period: Period) -> None:
        await self._periods.replace_one(
            {"_id": f"{school_id}/{period.period_id}"},
            {
                "school_id": school_id,
                "name": period.name,
                "starts_on": period.starts_on.isoformat(),
                "ends_on": period.ends_on.isoformat(),
                "school_year": period.school_year,
            },
            upsert=True,
        )

    async def put_teacher(
        self, school_id: str, teacher_id: str, assignments: list[tuple[str, str]], name: str = ""
    ) -> None:
        await self._teachers.replace_one(
            {"_id": f"{school_id}/{teacher_id}"},
            {
                "school_id": school_id,
                "name": name,
                "assignments": [{"class_id": c, "subject_id": s} for c, s in assignments],
            },
            upsert=True,
        )

    async def teaching(self, school_id: str, teacher_id: str) -> dict[str, frozenset[str]]:
        """The classes a teacher teaches, each with its subjects; none for a teacher the
        journal has not named."""
        doc = await self._teachers.find_one({"_id": f"{school_id}/{teacher_id}"})
        classes: dict[str, set[str]] = {}
        for assignment in doc["assignments"] if doc else []:
            classes.setdefault(assignment["class_id"], set()).add(assignment["subject_id"])
        return {class_id: frozenset(subjects) for class_id, subjects in classes.items()}

    async def classes_of_students(self, school_id: str) -> dict[str, str]:
        cursor = self._students.find({"school_id": school_id}, {"student_id": 1, "class_id": 1})
        return {doc["student_id"]: doc.get("class_id", "") async for doc in cursor}

    async def set_paper_only(
        self, school_id: str, recipient_id: str, student_ids: tuple[str, ...], paper_only: bool
    ) -> None:
        # Keyed by the school too: journals reuse guardian ids. A record of the same school
        # under the old key (the guardian's id alone) is replaced by this one.
        key = f"{school_id}/{recipient_id}"
        await self._paper_only.delete_one({"_id": recipient_id, "school_id": school_id})
        if paper_only:
            await self._paper_only.replace_one(
                {"_id": key},
                {"school_id": school_id, "student_ids": list(student_ids)},
                upsert=True,
            )
        else:
            await self._paper_only.delete_one({"_id": key})

    # What the weekly run and the extracts read.

    async def schools(self) -> list[Document]:
        return [doc async for doc in self._schools.find({}).sort("_id", 1)]

    async def school(self, school_id: str) -> Document:
        return await self._schools.find_one({"_id": school_id}) or {"_id": school_id}

    async def student_books(
        self, school_id: str
    ) -> tuple[list[StudentBook], list[tuple[str, str]]]:
        """The school's students, and the (student, error type) of records that cannot be
        read: one damaged document must not keep the others from their digest."""
        books, unreadable = [], []
        async for doc in self._students.find({"school_id": school_id}).sort("_id", 1):
            try:
                books.append(_book(doc))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                unreadable.append((str(doc.get("student_id", doc["_id"])), type(error).__name__))
        return books, unreadable

    async def student(self, school_id: str, student_id: str) -> Document | None:
        """The student's name, class and programme level, without their results."""
        return await self._students.find_one(
            {"_id": f"{school_id}/{student_id}"},
            {"name": 1, "class_id": 1, "class_name": 1, "education_level": 1, "student_id": 1},
        )

    async def class_books(self, school_id: str, class_id: str) -> list[StudentBook]:
        """The students of a class, with their results (the summary sheet)."""
        cursor = self._students.find({"school_id": school_id, "class_id": class_id})
        return [_book(doc) async for doc in cursor]

    async def student_book(self, school_id: str, student_id: str) -> StudentBook | None:
        doc = await self._students.find_one({"_id": f"{school_id}/{student_id}"})
        return _book(doc) if doc else None

    async def periods(self, school_id: str) -> list[Period]:
        cursor = self._periods.find({"school_id": school_id})
        return [
            Period(
                doc["_id"].split("/", 1)[1],
                doc["name"],
                date.fromisoformat(doc["starts_on"]),
                date.fromisoformat(doc["ends_on"]),
                str(doc.get("school_year", "")),
            )
            async for doc in cursor
        ]

    async def forecast_rules(self, school_id: str) -> ForecastRules:
        doc = await self._schools.find_one({"_id": school_id}, {"forecast_rules": 1})
        return (
            ForecastRules(**doc["forecast_rules"])
            if doc and "forecast_rules" in doc
            else (ForecastRules())
        )

    async def set_forecast_rules(self, school_id: str, rules: Document) -> None:
        await self._schools.update_one(
            {"_id": school_id}, {"$set": {"forecast_rules": rules}}, upsert=True
        )

    async def paper_only_students(self, school_id: str) -> set[str]:
        cursor = self._paper_only.find({"school_id": school_id})
        return {student_id async for doc in cursor for student_id in doc["student_ids"]}

    # The weekly runs: one per school and week, leased so that replicas do not race, and
    # done per student.

    async def claim_run(
        self, school_id: str, week: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Take the run of this week, unless another process holds a live lease on it. A done
        run is taken again: it then does what its earlier passes did not (students who came
        later), which may be nothing."""
        run_id = f"{school_id}/{week}"
        try:
            await self._runs.insert_one(
                {
                    "_id": run_id,
                    "school_id": school_id,
                    "week": week,
                    "status": "running",
                    "started_at": now,
                    "lease_until": lease_until,
                }
            )
            return True
        except DuplicateKeyError:
            taken = await self._runs.find_one_and_update(
                {
                    "_id": run_id,
                    "$or": [
                        {"status": "done"},
                        {"status": "running", "lease_until": {"$lte": now}},
                    ],
                },
                {"$set": {"status": "running", "started_at": now, "lease_until": lease_until}},
                return_document=ReturnDocument.AFTER,
            )
            return taken is not None

    async def record_published(
        self,
        school_id: str,
        week: str,
        student_ids: list[str],
        now: datetime,
        *,
        lease_until: datetime,
    ) -> None:
        """These students have had their week (recorded after Kafka acknowledged it: a crash
        in between publishes the same event again, which is folded); the lease goes on."""
        run_id = f"{school_id}/{week}"
        await insert_new(
            self._published,
            [
                {
                    "_id": f"{run_id}/{student_id}",
                    "run": run_id,
                    "school_id": school_id,
                    "student_id": student_id,
                    "published_at": now,
                }
                for student_id in student_ids
            ],
        )
        await self._runs.update_one(
            {"_id": run_id},
            {"$inc": {"students": len(student_ids)}, "$set": {"lease_until": lease_until}},
        )

    async def published_students(self, school_id: str, week: str) -> set[str]:
        cursor = self._published.find({"run": f"{school_id}/{week}"}, {"student_id": 1})
        return {doc["student_id"] async for doc in cursor}

    async def finish_run(
        self,
        school_id: str,
        week: str,
        now: datetime,
        *,
        students_seen: int,
        failures: list[Document],
        **counts: Any,
    ) -> None:
        """`students_seen`: the school's count of students added, read before the pass read
        its students; `failures`: the students this pass could not tell; `counts` add up over
        the week's passes."""
        await self._runs.update_one(
            {"_id": f"{school_id}/{week}"},
            {
                "$set": {
                    "status": "done",
                    "finished_at": now,
                    "students_seen": students_seen,
                    "failures": failures,
                },
                "$inc": {"passes": 1, **counts},
            },
        )

    async def run(self, school_id: str, week: str) -> Document | None:
        return await self._runs.find_one({"_id": f"{school_id}/{week}"})

    async def runs(
        self, school_id: str, *, limit: int, before: str | None = None
    ) -> list[Document]:
        """Up to `limit` of the school's runs, the latest week first, from the week before
        `before` on."""
        query: Document = {"school_id": school_id}
        if before is not None:
            query["week"] = {"$lt": before}
        cursor = self._runs.find(query, {"_id": 0}).sort("week", -1).limit(limit)
        return [doc async for doc in cursor]

    # Paper printouts: one PDF per class and week, and who has been handed theirs.

    async def save_printout(
        self,
        school_id: str,
        class_id: str,
        week: str,
        *,
        class_name: str,
        pdf: bytes,
        students: list[Document],
        hand_over_by: datetime,
    ) -> None:
        """Printing again (a second run) replaces the PDF and keeps the hand-overs."""
        await self._printouts.update_one(
            {"_id": f"{school_id}/{class_id}/{week}"},
            {
                "$set": {
                    "school_id": school_id,
                    "class_id": class_id,
                    "class_name": class_name,
                    "week": week,
                    "pdf": Binary(pdf),
                    "students": students,
                    "hand_over_by": hand_over_by,
                },
                "$setOnInsert": {"handed_over": []},
            },
            upsert=True,
        )

    async def printout(self, school_id: str, class_id: str, week: str) -> Document | None:
        return await self._printouts.find_one({"_id": f"{school_id}/{class_id}/{week}"})

    async def record_hand_over(
        self, school_id: str, class_id: str, week: str, student_id: str
    ) -> bool:
        """False when the printout does not exist or does not list the student."""
        printout_id = f"{school_id}/{class_id}/{week}"
        doc = await self._printouts.find_one({"_id": printout_id}, {"students": 1})
        if doc is None or student_id not in {s["student_id"] for s in doc["students"]}:
            return False
        await self._printouts.update_one(
            {"_id": printout_id}, {"$addToSet": {"handed_over": student_id}}
        )
        return True

    async def not_handed_over(
        self,
        now: datetime,
        school_id: str | None = None,
        *,
        limit: int | None = None,
        after: tuple[str, str] | None = None,
        classes: Collection[str] | None = None,
    ) -> list[Document]:
        """Students whose printout was due by the Monday after its week and is not handed
        over yet: by printout (class and week), then student; at most `limit`, from the one
        after `after` (printout id, student id) on."""
        query: Document = {"hand_over_by": {"$lte": now}}
        if school_id is not None:
            query["school_id"] = school_id
        if after is not None:
            query["_id"] = {"$gte": after[0]}
        late: list[Document] = []
        async for doc in self._printouts.find(query, {"pdf": 0}).sort("_id", 1):
            if classes is not None and doc["class_id"] not in classes:
                continue
            handed = set(doc.get("handed_over", []))
            for student in sorted(doc["students"], key=lambda s: str(s["student_id"])):
                key = (doc["_id"], student["student_id"])
                if student["student_id"] in handed or (after is not None and key <= after):
                    continue
                late.append(
                    {
                        "printout": doc["_id"],
                        "school_id": doc["school_id"],
                        "class_id": doc["class_id"],
                        "class_name": doc["class_name"],
                        "week": doc["week"],
                        **student,
                    }
                )
                if limit is not None and len(late) >= limit:
                    return late
        return late


def _book(doc: Document) -> StudentBook:
    marks = [
        Mark(
            m["mark_id"],
            m["subject_id"],
            m["subject_name"],
            date.fromisoformat(m["lesson_date"]),
            m["value"],
            m["work_type"],
            m["weight"],
        )
        for m in doc.get("marks", {}).values()
    ]
    return StudentBook(
        school_id=doc["school_id"],
        student_id=doc["student_id"],
        name=doc.get("name", ""),
        class_id=doc.get("class_id", ""),
        class_name=doc.get("class_name", ""),
        education_level=doc.get("education_level"),
        marks=marks,
        comments={
            m["mark_id"]: m["comment"] for m in doc.get("marks", {}).values() if m.get("comment")
        },
        absences=[
            Absence(
                date.fromisoformat(a["lesson_date"]),
                a["subject_name"],
                a["code_label"],
                a.get("subject_id"),
            )
            for a in doc.get("absences", {}).values()
        ],
        final_marks=[
            FinalMark(
                f["subject_name"],
                f["period_name"],
                date.fromisoformat(f["obtained_on"]),
                f["value"],
                date.fromisoformat(f["deferred_until"]) if f["deferred_until"] else None,
                f.get("subject_id"),
                # A final's slot is `subject/period`, in hex (ids hold no "/").
                bytes.fromhex(slot).decode().split("/", 1)[1],
            )
            for slot, f in doc.get("finals", {}).items()
        ],
        exam_results=[
            ExamResult(
                e["title"], e["value"], date.fromisoformat(e["obtained_on"]), e.get("subject_id")
            )
            for e in doc.get("exams", {}).values()
        ],
    )
