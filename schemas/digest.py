"""Events the digest service publishes (`digest.weekly.v1`).

A weekly digest is a fact about one student's week, compiled from the journal's events: the
consent service turns it into requests for the recipients who want it, like any other news.
Its `event_id` is derived from the school, student and week, so compiling the same week twice
(a second run, a second replica, a restart mid-run) publishes the same event, which everyone
downstream folds.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.classwork import AssessmentKind
from schemas.envelope import Envelope
from schemas.journal import FinalValue, MarkValue, StudentFacts
from schemas.timetable import LessonChangeKind, NonSchoolDaysKind

WEEKLY_DIGEST_NAMESPACE = uuid.UUID("6f1c9a52-1f4e-4f8e-9b0c-0d6f4f3b7a11")


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WeekMark(_Part):
    lesson_date: date
    value: MarkValue
    work_type: str
    comment: str | None = None


class Forecast(_Part):
    """Clause 6: the period's final mark as things stand."""

    mean: float = Field(description="Weighted mean of the period's marks so far.")
    projected: int | None = Field(ge=2, le=5, description="None while there are too few marks.")
    mark_count: int = Field(ge=0)
    too_few: bool = Field(description="Fewer marks than the school's minimum («мало оценок»).")
    trend: Literal["up", "down", "steady", "new"]


class SubjectWeek(_Part):
    subject_id: str
    subject_name: str
    marks: tuple[WeekMark, ...] = ()
    forecast: Forecast | None = None


class WeekAbsence(_Part):
    lesson_date: date
    subject_name: str
    code_label: str


class WeekFinalMark(_Part):
    """A final mark set or deferred this week (clause 8: «отсрочка до DD.MM»)."""

    subject_name: str
    period_name: str
    value: FinalValue | None = None
    deferred_until: date | None = None


class WeekExamResult(_Part):
    title: str
    value: str


class WeekTest(_Part):
    """A контрольная, проверочная or ВПР planned for next week (clause 4)."""

    assessment_date: date
    subject_name: str
    assessment_kind: AssessmentKind
    kind_label: str = Field(examples=["контрольная работа"], description="As families read it.")
    title: str | None = None


class WeekHomework(_Part):
    """Homework still due on or after the digest's day."""

    subject_name: str
    due_on: date
    text: str
    attachments: tuple[str, ...] = Field((), description="Links to the attachments.")


class WeekLessonChange(_Part):
    """A lesson of this week that differs from the timetable, and why."""

    lesson_date: date
    lesson_number: int
    subject_name: str
    change: LessonChangeKind
    what: str = Field(examples=["замена: ведёт Сидорова М. И."], description="As families read it.")
    reason: str


class WeekTeacher(_Part):
    """Who teaches the student a subject (their group's teacher, or their ИУП's)."""

    subject_name: str
    teacher_names: tuple[str, ...]
    group_name: str | None = None


class WeekHolidays(_Part):
    name: str
    days_kind: NonSchoolDaysKind
    starts_on: date
    ends_on: date


class WeeklyDigestPayload(StudentFacts):
    kind: Literal["weekly_digest"] = "weekly_digest"
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"])
    week_start: date
    week_end: date
    period_name: str | None = Field(default=None, description="The period the forecast is for.")
    subjects: tuple[SubjectWeek, ...] = ()
    absences: tuple[WeekAbsence, ...] = ()
    final_marks: tuple[WeekFinalMark, ...] = ()
    exam_results: tuple[WeekExamResult, ...] = ()
    # Clause 4's sections (issue 13): empty where the journal sent none of it.
    next_week_tests: tuple[WeekTest, ...] = ()
    homework_due: tuple[WeekHomework, ...] = ()
    lesson_changes: tuple[WeekLessonChange, ...] = ()
    teachers: tuple[WeekTeacher, ...] = ()
    next_holidays: tuple[WeekHolidays, ...] = ()


class WeeklyDigestCompiled(Envelope[WeeklyDigestPayload]):
    topic: ClassVar[str] = "digest.weekly.v1"
    type: Literal["WeeklyDigestCompiled"] = "WeeklyDigestCompiled"
    version: Literal[1] = 1

    @staticmethod
    def id_for(school_id: str, student_id: str, week: str) -> uuid.UUID:
        """The same week of the same student is always the same event."""
        return uuid.uuid5(WEEKLY_DIGEST_NAMESPACE, f"{school_id}/{student_id}/{week}")
