"""What the journal sends about a family's school week (clause 4): the reference records.

Each is `PUT` whole and published only when it changed, and is never news: groups inside a
class, a student's individual curriculum, a bell schedule, a school year's calendar. The batch
items (timetable lessons, lesson changes, assessments, homework, recommendations) are in
`week_items.py`.
"""

from __future__ import annotations

from datetime import date, time
from itertools import pairwise
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
)

from schemas.journal import EducationLevel
from schemas.timetable import GroupKind, NonSchoolDaysKind
from services.grades.items import (
    Input,
    JournalId,
    LessonNumber,
    SchoolDate,
    SchoolYear,
    TypedText,
    not_before,
    with_examples,
)


def distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an entry")
    return values


def each_once(attribute: str) -> AfterValidator:
    """Entries that must not repeat their `attribute` (a subject listed twice, say)."""

    def check(entries: tuple[Any, ...]) -> tuple[Any, ...]:
        distinct(tuple(getattr(entry, attribute) for entry in entries))
        return entries

    return AfterValidator(check)


Ids = Annotated[tuple[JournalId, ...], AfterValidator(distinct)]
Levels = Annotated[tuple[EducationLevel, ...], AfterValidator(distinct)]


class GroupIn(Input):
    """A group inside a class: part of the class for one subject, or an elective."""

    model_config = with_examples(
        {
            "class_id": "5a",
            "name": "Английский, группа 1",
            "group_kind": "subject_split",
            "subject_id": "en",
            "student_ids": ["st-1", "st-2"],
            "teacher_ids": ["t-2"],
        }
    )

    class_id: JournalId
    name: TypedText = Field(min_length=1, max_length=100, examples=["Английский, группа 1"])
    group_kind: GroupKind
    subject_id: JournalId | None = Field(None, validate_default=True)
    student_ids: Ids = Field((), max_length=100, description="The students in the group.")
    teacher_ids: Ids = Field((), max_length=10, description="Who teaches the group.")

    @field_validator("subject_id")
    @classmethod
    def _split_of_a_subject(cls, subject_id: str | None, info: ValidationInfo) -> str | None:
        if subject_id is None and info.data.get("group_kind") == "subject_split":
            raise ValueError("a subject split into groups needs its subject_id")
        return subject_id


class CurriculumSubjectIn(Input):
    subject_id: JournalId
    teacher_id: JournalId | None = None
    group_id: JournalId | None = Field(None, description="Where they learn it with others.")
    hours_per_week: float | None = Field(None, gt=0, le=40)


class IndividualCurriculumIn(Input):
    """A student on an individual curriculum (ИУП), `PUT …/curricula/{student_id}`."""

    model_config = with_examples(
        {
            "school_year": "2026/2027",
            "education_level": "basic",
            "valid_from": "2026-09-01",
            "valid_to": "2027-05-31",
            "subjects": [
                {"subject_id": "math", "teacher_id": "t-1", "hours_per_week": 2},
                {"subject_id": "en", "group_id": "5a-en-1"},
            ],
        }
    )

    school_year: SchoolYear
    education_level: EducationLevel = Field(
        description="The student's own programme level: НОО (primary), ООО (basic), СОО "
        "(secondary)."
    )
    valid_from: SchoolDate
    valid_to: Annotated[SchoolDate, not_before("valid_from")]
    subjects: Annotated[tuple[CurriculumSubjectIn, ...], each_once("subject_id")] = Field(
        min_length=1, max_length=40
    )


class BellIn(Input):
    lesson_number: LessonNumber
    starts_at: time = Field(examples=["08:30"])
    ends_at: Annotated[time, not_before("starts_at")] = Field(examples=["09:15"])


class BellScheduleIn(Input):
    """When each lesson starts and ends, for some levels or classes (first graders differ)."""

    model_config = with_examples(
        {
            "name": "Основное расписание звонков",
            "bells": [
                {"lesson_number": 1, "starts_at": "08:30", "ends_at": "09:15"},
                {"lesson_number": 2, "starts_at": "09:25", "ends_at": "10:10"},
            ],
        }
    )

    name: TypedText = Field(min_length=1, max_length=100)
    education_levels: Levels = Field((), description="Empty: every level.")
    class_ids: Ids = Field((), max_length=100, description="Empty: every class of the levels.")
    bells: tuple[BellIn, ...] = Field(min_length=1, max_length=13)

    @field_validator("bells")
    @classmethod
    def _in_order(cls, bells: tuple[BellIn, ...]) -> tuple[BellIn, ...]:
        for before, after in pairwise(bells):
            if after.lesson_number <= before.lesson_number or after.starts_at < before.ends_at:
                raise ValueError("lessons must follow one another in number and time")
        return bells


class NonSchoolDaysIn(Input):
    name: TypedText = Field(min_length=1, max_length=100, examples=["Осенние каникулы"])
    days_kind: NonSchoolDaysKind
    starts_on: SchoolDate
    ends_on: Annotated[SchoolDate, not_before("starts_on")]
    education_levels: Levels = Field((), description="Empty: every level.")
    class_ids: Ids = Field(
        (),
        max_length=100,
        description="Empty: every class (of the levels): first graders' "
        "extra holidays name the first classes.",
    )


class SchoolCalendarIn(Input):
    """A school year: when it runs and the days without lessons, `PUT …/calendars/{year}`
    (the first calendar year of the school year: 2026 for 2026/2027)."""

    model_config = with_examples(
        {
            "school_year": "2026/2027",
            "starts_on": "2026-09-01",
            "ends_on": "2027-05-26",
            "non_school_days": [
                {
                    "name": "Осенние каникулы",
                    "days_kind": "holidays",
                    "starts_on": "2026-10-26",
                    "ends_on": "2026-11-03",
                },
                {
                    "name": "Дополнительные каникулы для первоклассников",
                    "days_kind": "holidays",
                    "starts_on": "2027-02-08",
                    "ends_on": "2027-02-14",
                    "class_ids": ["1a", "1b"],
                },
            ],
        }
    )

    school_year: SchoolYear
    starts_on: SchoolDate
    ends_on: Annotated[SchoolDate, not_before("starts_on")]
    weeks_alternate_from: SchoolDate | None = Field(
        None, description="The Monday of an A week, where the school alternates A and B weeks."
    )
    non_school_days: tuple[NonSchoolDaysIn, ...] = Field((), max_length=60)

    @field_validator("weeks_alternate_from")
    @classmethod
    def _a_monday(cls, monday: date | None) -> date | None:
        if monday is not None and monday.isoweekday() != 1:
            raise ValueError("must be a Monday")
        return monday

    @field_validator("non_school_days")
    @classmethod
    def _within_the_year(
        cls, days: tuple[NonSchoolDaysIn, ...], info: ValidationInfo
    ) -> tuple[NonSchoolDaysIn, ...]:
        first, last = info.data.get("starts_on"), info.data.get("ends_on")
        if first and last and any(d.starts_on < first or d.ends_on > last for d in days):
            raise ValueError("must lie between the year's starts_on and ends_on")
        return days
