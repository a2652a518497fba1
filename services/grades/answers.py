"""What the journal API answers (its errors have the shape of `services.shared.errors`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from services.grades.domain import Outcome
from services.grades.items import FieldError
from services.grades.usecases import ReferenceOutcome


class ReferenceSaved(BaseModel):
    status: ReferenceOutcome


class ItemOut(BaseModel):
    index: int
    status: Outcome
    id: str | None = None
    errors: list[FieldError] = []


class BatchOut(BaseModel):
    summary: dict[str, int]
    items: list[ItemOut]
    events: Literal["queued", "queued while Kafka is unreachable"]


class RecordedMark(BaseModel):
    """A mark as the journal last sent it (read back, so not checked again)."""

    mark_id: str
    student_id: str
    subject_id: str
    teacher_id: str
    lesson_date: date
    value: str
    work_type: str
    weight: float
    comment: str | None = None
    retracted: bool


class MarksPage(BaseModel):
    items: list[RecordedMark]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
