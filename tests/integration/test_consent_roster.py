"""Consent's roster on the real database: the latest version of a group stands, a student who
changes class leaves the old one, a curriculum and a school's zone are kept."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from schemas import SchoolChanged
from schemas.journal import SchoolChangedPayload
from schemas.timetable import (
    CLASS_5A,
    CurriculumSubject,
    GroupChanged,
    GroupChangedPayload,
    IndividualCurriculumChanged,
    IndividualCurriculumChangedPayload,
)
from services.consent.roster import MongoRoster
from services.shared.mongo import Document
from tests.builders import a_student_changed

MOSCOW = ZoneInfo("Europe/Moscow")


def a_group(students: list[str], version: int | None) -> GroupChanged:
    return GroupChanged.new(
        GroupChangedPayload(
            **CLASS_5A,
            group_id="5a-en-1",
            group_kind="subject_split",
            student_ids=tuple(students),
            record_version=version,
        ),
        producer="grades",
    )


async def test_an_older_group_version_arriving_later_changes_nothing(
    database: AsyncDatabase[Document],
) -> None:
    roster = MongoRoster(database, default_zone=MOSCOW)
    await roster.ensure_indexes()
    await roster.apply([a_group(["st-1", "st-4"], 2)])
    await roster.apply([a_group(["st-1", "st-2"], 1)])  # another batch: the database decides
    await roster.apply([a_group(["st-1", "st-4"], 2)])  # redelivered
    assert (await roster.enrolment("school-1", "5a")).groups == {
        "5a-en-1": frozenset({"st-1", "st-4"})
    }
    await roster.apply([a_group(["st-4"], 3), a_group(["st-1"], 2)])  # one batch, out of order
    assert (await roster.enrolment("school-1", "5a")).groups == {"5a-en-1": frozenset({"st-4"})}


async def test_a_student_who_changes_class_leaves_the_old_one(
    database: AsyncDatabase[Document],
) -> None:
    roster = MongoRoster(database, default_zone=MOSCOW)
    await roster.apply([a_student_changed("st-1", "5a"), a_student_changed("st-2", "5a")])
    await roster.apply([a_student_changed("st-1", "6b")])
    assert (await roster.enrolment("school-1", "5a")).students == {"st-2": "Ученик st-2"}
    assert (await roster.enrolment("school-1", "6b")).students == {"st-1": "Ученик st-1"}
    # Another school's `5a` is another class.
    assert (await roster.enrolment("school-2", "5a")).students == {}


async def test_a_curriculum_and_the_schools_zone_are_kept(
    database: AsyncDatabase[Document],
) -> None:
    roster = MongoRoster(database, default_zone=MOSCOW)
    assert await roster.zone("school-1") == MOSCOW  # until the journal names one
    curriculum = IndividualCurriculumChanged.new(
        IndividualCurriculumChangedPayload(
            school_id="school-1",
            student_id="st-5",
            class_id="5a",
            school_year="2026/2027",
            education_level="basic",
            valid_from=date(2026, 9, 1),
            valid_to=date(2027, 5, 31),
            subjects=(
                CurriculumSubject(subject_id="math", subject_name="Математика"),
                CurriculumSubject(subject_id="en", subject_name="Английский", group_id="5a-en-2"),
            ),
        ),
        producer="grades",
    )
    school = SchoolChanged.new(
        SchoolChangedPayload(school_id="school-1", name="Школа", timezone="Asia/Yekaterinburg"),
        producer="grades",
    )
    await roster.apply([curriculum, school])
    [plan] = (await roster.enrolment("school-1", "5a")).curricula["st-5"]
    assert plan.subject_ids == {"math", "en"} and plan.group_ids == {"5a-en-2"}
    assert plan.in_force(date(2026, 12, 1))
    assert await roster.zone("school-1") == ZoneInfo("Asia/Yekaterinburg")
