"""What the journal API answers: its bodies, and its 422 in the shared error shape
(`services.shared.errors`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 without what it adds for debugging: the input echoed back (personal
    data, possibly megabytes) and the parser's own context."""
    assert isinstance(error, RequestValidationError)
    fields = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return JSONResponse(jsonable_encoder({"detail": fields}), status_code=422)
