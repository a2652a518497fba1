"""What the journal API answers: its bodies, and every status an operation can answer, in
the shape the service really sends it."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

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


class Problem(BaseModel):
    """Every refusal but a 422: what went wrong, in a sentence."""

    detail: str


class InvalidField(BaseModel):
    loc: list[str | int] = Field(description="Where: `body` or `query` or `path`, then the field.")
    msg: str
    type: str


class Invalid(BaseModel):
    """A 422: each field that is wrong, whether the parser or the service found it."""

    detail: list[InvalidField]


Responses = dict[int | str, dict[str, Any]]
DESCRIPTIONS = {
    400: "The body is not text in UTF-8.",
    401: "No bearer token, or one that is not valid (expired, forged).",
    403: "A token of another school or of a role that may not do this; for a teacher, a "
    "class, subject or record not theirs. The same answer whether the record exists.",
    404: "The school is not registered yet: PUT it first.",
    409: "Other requests changed the record meanwhile: send it again.",
    413: "The body is larger than the service takes (16 MiB).",
    422: "A field is missing, malformed or out of range.",
}


def documented(*codes: int, not_found: str | None = None) -> Responses:
    """An operation's error responses (`responses=` of a route), each in its shape."""
    return {
        code: {
            "model": Invalid if code == 422 else Problem,
            "description": (code == 404 and not_found) or DESCRIPTIONS[code],
        }
        for code in codes
    }


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 without what it adds for debugging: the input echoed back (personal
    data, possibly megabytes) and the parser's own context."""
    assert isinstance(error, RequestValidationError)
    fields = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return JSONResponse(jsonable_encoder({"detail": fields}), status_code=422)
