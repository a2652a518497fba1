"""Events about what a school plans to teach and what it taught (clause 7): the curriculum
(учебный план) of a school year for a programme level or some classes, and each lesson held.

Neither is news: they feed the school's reports (the lesson statistics, and which subjects the
summary sheet of final marks lists and how it grades them), never a notice to a family. Like
the timetable, a lesson held carries the names the reports print and the journal record's
`record_version`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import Envelope, SchoolPayload
from schemas.journal import EducationLevel, Id
from schemas.timetable import CLASS_5A, ClassFacts, Version

LessonType = Literal["lesson", "test", "laboratory", "practical", "credit", "excursion", "other"]
# How the reports name each lesson type.
LESSON_TYPE_NAMES: dict[str, str] = {
    "lesson": "урок",
    "test": "контрольная",
    "laboratory": "лабораторная",
    "practical": "практическая",
    "credit": "зачёт",
    "excursion": "экскурсия",
    "other": "другое",
}
# marks: 1-5 (and н/а); pass_fail: «зачёт»/«незачёт» or «осв.».
Grading = Literal["marks", "pass_fail"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlannedPeriod(_Part):
    period_id: str = Id
    hours: int = Field(ge=0, le=600, description="Lessons planned (a lesson is an hour).")
    assessments: dict[LessonType, int] = Field(
        default_factory=dict,
        description="Required lessons of a type other than a plain lesson, e.g. 2 tests.",
        examples=[{"test": 2, "laboratory": 1}],
    )


class PlannedSubject(_Part):
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    grading: Grading = "marks"
    periods: tuple[PlannedPeriod, ...] = ()


class StudyPlanChangedPayload(SchoolPayload):
    """A curriculum: the subjects a programme level (or the named classes) learns in a school
    year, each graded by marks or pass/fail, with the hours and assessments of each period. A
    class follows the plan naming it, else its level's plan without class ids."""

    kind: Literal["study_plan_changed"] = "study_plan_changed"
    plan_id: str = Id
    name: str = Field(min_length=1, examples=["Учебный план ООО, 5-е классы"])
    school_year: str = Field(pattern=r"^\d{4}/\d{4}$", examples=["2026/2027"])
    education_level: EducationLevel
    class_ids: tuple[str, ...] = Field((), description="Empty: every class of the level.")
    subjects: tuple[PlannedSubject, ...]
    record_version: int | None = Version


class LessonHeldFacts(ClassFacts):
    """A lesson as the journal recorded it held (the class, or one group of it)."""

    lesson_id: str = Field(min_length=1, description="The journal's own id of the lesson.")
    lesson_date: date
    lesson_number: int = Field(ge=0, le=12)
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_id: str = Id
    teacher_name: str = Field(min_length=1)
    lesson_type: LessonType = "lesson"
    topic: str | None = Field(None, min_length=1, max_length=500)


class LessonHeldPayload(LessonHeldFacts):
    kind: Literal["lesson_held"] = "lesson_held"


class LessonHeldRemovedPayload(LessonHeldFacts):
    """The lesson as it was when the journal took it back (entered by mistake)."""

    kind: Literal["lesson_held_removed"] = "lesson_held_removed"


STUDY_PLAN: dict[str, Any] = {
    "school_id": "school-1",
    "plan_id": "ooo-5",
    "name": "Учебный план ООО, 5-е классы",
    "school_year": "2026/2027",
    "education_level": "basic",
    "class_ids": ["5a", "5b"],
    "subjects": [
        {
            "subject_id": "math",
            "subject_name": "Математика",
            "periods": [{"period_id": "q1", "hours": 45, "assessments": {"test": 2}}],
        },
        {
            "subject_id": "music",
            "subject_name": "Музыка",
            "grading": "pass_fail",
            "periods": [{"period_id": "q1", "hours": 8}],
        },
    ],
}
LESSON_HELD: dict[str, Any] = {
    **CLASS_5A,
    "lesson_id": "l-5a-math-2026-10-06-2",
    "lesson_date": "2026-10-06",
    "lesson_number": 2,
    "subject_id": "math",
    "subject_name": "Математика",
    "teacher_id": "t-1",
    "teacher_name": "Петрова Анна Сергеевна",
    "lesson_type": "test",
    "topic": "Контрольная работа № 1 «Натуральные числа»",
}


class StudyPlanChanged(Envelope[StudyPlanChangedPayload]):
    topic: ClassVar[str] = "journal.curriculum.v1"
    type: Literal["StudyPlanChanged"] = "StudyPlanChanged"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**STUDY_PLAN, "record_version": 1}


class LessonHeld(Envelope[LessonHeldPayload]):
    topic: ClassVar[str] = "journal.lessons.v1"
    type: Literal["LessonHeld"] = "LessonHeld"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**LESSON_HELD, "record_version": 1}


class LessonHeldRemoved(Envelope[LessonHeldRemovedPayload]):
    topic: ClassVar[str] = "journal.lessons.v1"
    type: Literal["LessonHeldRemoved"] = "LessonHeldRemoved"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**LESSON_HELD, "record_version": 2}


LessonEvent = Annotated[LessonHeld | LessonHeldRemoved, Field(discriminator="type")]
