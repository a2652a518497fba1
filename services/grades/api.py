"""The journal's HTTP API (`/v1`): reference data and marks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from schemas import MarkValue
from services.grades.domain import (
    Mark,
    MarkConflictError,
    Student,
    Subject,
    Teacher,
    UnknownReferenceError,
    post_mark,
)
from services.grades.store import MongoGradesStore

RecordId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudentIn(_Body):
    school_id: str = Field(min_length=1, examples=["school-1"])
    name: str = Field(min_length=1, examples=["Иванов Иван"])
    class_name: str = Field(min_length=1, examples=["5А"])


class SubjectIn(_Body):
    school_id: str = Field(min_length=1)
    name: str = Field(min_length=1, examples=["Математика"])


class TeacherIn(_Body):
    school_id: str = Field(min_length=1)
    name: str = Field(min_length=1, examples=["Петрова Анна Сергеевна"])


class MarkIn(_Body):
    mark_id: str = Field(min_length=1, max_length=100, description="The journal's own id.")
    school_id: str = Field(min_length=1)
    student_id: str = Field(min_length=1)
    subject_id: str = Field(min_length=1)
    teacher_id: str = Field(min_length=1)
    lesson_date: date
    value: MarkValue
    work_type: str = Field(min_length=1, examples=["контрольная работа"])
    weight: float = Field(1.0, gt=0, le=10)
    comment: str | None = Field(None, max_length=2000)


class MarkAccepted(BaseModel):
    status: Literal["accepted", "duplicate"]


def grades_router(
    store: MongoGradesStore, *, on_accepted: Callable[[], None], auth: Any
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["journal"], dependencies=[auth])

    @router.put("/students/{student_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def put_student(student_id: RecordId, body: StudentIn) -> None:
        await store.save_student(Student(student_id=student_id, **body.model_dump()))

    @router.put("/subjects/{subject_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def put_subject(subject_id: RecordId, body: SubjectIn) -> None:
        await store.save_subject(Subject(subject_id=subject_id, **body.model_dump()))

    @router.put("/teachers/{teacher_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def put_teacher(teacher_id: RecordId, body: TeacherIn) -> None:
        await store.save_teacher(Teacher(teacher_id=teacher_id, **body.model_dump()))

    @router.post(
        "/marks",
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            409: {"description": "The mark id is known with other content."},
            422: {"description": "Invalid field, or an unknown student, subject or teacher."},
        },
    )
    async def post_mark_endpoint(body: MarkIn) -> MarkAccepted:
        """Accept one mark. Resending the same mark changes nothing and publishes nothing."""
        try:
            outcome = await post_mark(Mark(**body.model_dump()), store=store)
        except UnknownReferenceError as error:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {"loc": ["body", error.field], "msg": str(error), "type": "unknown_reference"}
                ],
            ) from None
        except MarkConflictError:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=[
                    {
                        "loc": ["body", "mark_id"],
                        "msg": "mark_id is known with other content",
                        "type": "conflict",
                    }
                ],
            ) from None
        if outcome == "accepted":
            on_accepted()
        return MarkAccepted(status=outcome)

    return router
