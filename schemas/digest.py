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

from schemas.envelope import Envelope
from schemas.journal import FinalValue, MarkValue, StudentFacts

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


class WeeklyDigestCompiled(Envelope[WeeklyDigestPayload]):
    topic: ClassVar[str] = "digest.weekly.v1"
    type: Literal["WeeklyDigestCompiled"] = "WeeklyDigestCompiled"
    version: Literal[1] = 1

    @staticmethod
    def id_for(school_id: str, student_id: str, week: str) -> uuid.UUID:
        """The same week of the same student is always the same event."""
        return uuid.uuid5(WEEKLY_DIGEST_NAMESPACE, f"{school_id}/{student_id}/{week}")
