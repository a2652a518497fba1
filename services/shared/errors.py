"""One error shape for every service, documented on every operation.

FastAPI answers a request it cannot validate with `{"detail": [{"loc", "msg", "type"}]}`; our own
422s use the same shape, naming the field, and the other errors carry `{"detail": "why"}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.status import HTTP_422_UNPROCESSABLE_CONTENT


class FieldErrorOut(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "address"]])
    msg: str = Field(examples=["not a valid phone number"])
    type: str = Field(examples=["value_error"])


class ValidationErrorOut(BaseModel):
    detail: list[FieldErrorOut]


class ErrorOut(BaseModel):
    detail: str = Field(examples=["not allowed for this token"])


_DESCRIPTIONS = {
    400: "The body cannot be read at all (not UTF-8 text).",
    401: "No valid bearer token.",
    403: "The token's school or role may not do this (also for ids it may not know about).",
    404: "No such record in this school.",
    409: "The record exists already, or changed meanwhile.",
    413: "The request body is larger than the service accepts.",
    422: "A field is invalid: `loc` names it.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: 401 and 422 always (every route takes a token and checks its
    input), plus `codes`; give 413 for a route with a body, which brings 400 (a body that is
    not even text) along."""
    wanted = sorted({401, 422, *codes, *((400,) if 413 in codes else ())})
    return {
        code: {
            "model": ValidationErrorOut if code == 422 else ErrorOut,
            "description": _DESCRIPTIONS[code],
        }
        for code in wanted
    }


def field_error(loc: tuple[str | int, ...], message: str, kind: str = "value_error") -> Any:
    """The body of a 422 naming one field."""
    return {"detail": [{"loc": list(loc), "msg": message, "type": kind}]}


async def validation_failed(request: Request, error: Exception) -> JSONResponse:
    """A request that fails validation, in the documented shape: where and why, never the
    input it was given (it may not even be JSON-serialisable: a NaN) nor the parser's context."""
    assert isinstance(error, RequestValidationError)
    fields = [
        FieldErrorOut(loc=list(e["loc"]), msg=_plain(str(e["msg"])), type=str(e["type"]))
        for e in error.errors()
    ]
    return JSONResponse(
        ValidationErrorOut(detail=fields).model_dump(), status_code=HTTP_422_UNPROCESSABLE_CONTENT
    )


def _plain(message: str) -> str:
    """A validator's own words, without the prefix pydantic puts before them."""
    return message.removeprefix("Value error, ")
