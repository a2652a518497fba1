"""What the journal sends for the school's reports (clause 7): the curriculum and the lessons
held.

The curriculum (учебный план) is a reference record, `PUT …/study-plans/{plan_id}` whole and
published only when it changed. A lesson held is a batch item like a timetable lesson:
idempotent by the journal's id, taken back by its removal. Neither is ever news.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from schemas.curriculum import Grading, LessonType
from schemas.journal import EducationLevel
from services.grades.items import (
    Input,
    JournalId,
    LessonNumber,
    SchoolDate,
    SchoolYear,
    TypedText,
    with_examples,
)
from services.grades.week_references import Ids, each_once

# Lessons of a type other than a plain lesson (a plain lesson is counted by `hours`).
AssessmentType = Literal["test", "laboratory", "practical", "credit", "excursion", "other"]
AssessmentCount = Annotated[int, Field(ge=1, le=600)]


class PlannedPeriodIn(Input):
    period_id: JournalId
    hours: int = Field(ge=0, le=600, description="Lessons planned (a lesson is an hour).")
    assessments: dict[AssessmentType, AssessmentCount] = Field(
        default_factory=dict,
        description="Required lessons of each type other than a plain lesson, e.g. 2 tests "
        "(each is one of the period's hours).",
        examples=[{"test": 2, "laboratory": 1}],
    )

    @field_validator("assessments")
    @classmethod
    def _within_the_hours(cls, assessments: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        hours = info.data.get("hours")
        if hours is not None and sum(assessments.values()) > hours:
            raise ValueError("more assessments than the period's hours")
        return assessments


class PlannedSubjectIn(Input):
    subject_id: JournalId
    grading: Grading = Field(
        "marks", description="`marks` (1–5, н/а) or `pass_fail` (зачёт/незачёт, осв.)."
    )
    periods: Annotated[tuple[PlannedPeriodIn, ...], each_once("period_id")] = Field(
        (), max_length=20
    )


class StudyPlanIn(Input):
    """A curriculum (учебный план) of a school year for a programme level, or for the classes
    it names, `PUT …/study-plans/{plan_id}`."""

    model_config = with_examples(
        {
            "school_year": "2026/2027",
            "education_level": "basic",
            "name": "Учебный план ООО, 5-е классы",
            "class_ids": ["5a", "5b"],
            "subjects": [
                {
                    "subject_id": "math",
                    "periods": [{"period_id": "q1", "hours": 45, "assessments": {"test": 2}}],
                },
                {
                    "subject_id": "music",
                    "grading": "pass_fail",
                    "periods": [{"period_id": "q1", "hours": 8}],
                },
            ],
        }
    )

    school_year: SchoolYear
    education_level: EducationLevel = Field(
        description="The programme level: НОО (primary), ООО (basic), СОО (secondary)."
    )
    name: TypedText = Field(min_length=1, max_length=200, examples=["Учебный план ООО"])
    class_ids: Ids = Field(
        (), max_length=100, description="Empty: every class of the level follows it."
    )
    subjects: Annotated[tuple[PlannedSubjectIn, ...], each_once("subject_id")] = Field(
        min_length=1, max_length=60
    )


class LessonHeldItem(Input):
    """A lesson the class (or one group of it) had: the journal's record of it."""

    kind: Literal["lesson_held"] = "lesson_held"
    lesson_id: JournalId
    class_id: JournalId
    group_id: JournalId | None = Field(None, description="Only this group of the class.")
    lesson_date: SchoolDate
    lesson_number: LessonNumber
    subject_id: JournalId
    teacher_id: JournalId = Field(description="Who taught it.")
    lesson_type: LessonType = Field(
        "lesson",
        description="`lesson` урок, `test` контрольная, `laboratory` лабораторная, "
        "`practical` практическая, `credit` зачёт, `excursion` экскурсия, `other`.",
    )
    topic: TypedText | None = Field(None, min_length=1, max_length=500)


class LessonHeldRemovalItem(Input):
    """A lesson held recorded by mistake, taken back."""

    kind: Literal["lesson_held_removal"] = "lesson_held_removal"
    lesson_id: JournalId
