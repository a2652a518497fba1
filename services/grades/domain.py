"""The journal's records and the rules that turn an accepted mark into a MarkPosted event."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal, Protocol

from schemas import MarkPosted, MarkPostedPayload, MarkValue

PRODUCER = "grades"


@dataclass(frozen=True)
class Student:
    student_id: str
    school_id: str
    name: str
    class_name: str


@dataclass(frozen=True)
class Subject:
    subject_id: str
    school_id: str
    name: str


@dataclass(frozen=True)
class Teacher:
    teacher_id: str
    school_id: str
    name: str


@dataclass(frozen=True)
class Mark:
    mark_id: str
    school_id: str
    student_id: str
    subject_id: str
    teacher_id: str
    lesson_date: date
    value: MarkValue
    work_type: str
    weight: float
    comment: str | None = None

    def fingerprint(self) -> dict[str, object]:
        """What makes a resend a duplicate: the same id with the same content."""
        return {**asdict(self), "lesson_date": self.lesson_date.isoformat()}


class UnknownReferenceError(Exception):
    """The mark names a student, subject or teacher the journal has not sent (for this school)."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"unknown {field}: {value}")
        self.field = field
        self.value = value


class MarkConflictError(Exception):
    """The journal resent a known mark id with other content."""


MarkOutcome = Literal["accepted", "duplicate"]


class GradesStore(Protocol):
    async def student(self, school_id: str, student_id: str) -> Student | None: ...
    async def subject(self, school_id: str, subject_id: str) -> Subject | None: ...
    async def teacher(self, school_id: str, teacher_id: str) -> Teacher | None: ...
    async def add_mark(self, mark: Mark, event: MarkPosted) -> MarkOutcome: ...


async def post_mark(mark: Mark, *, store: GradesStore) -> MarkOutcome:
    """Accept a mark from the journal, together with the event that tells everyone about it."""
    student = await store.student(mark.school_id, mark.student_id)
    if student is None:
        raise UnknownReferenceError("student_id", mark.student_id)
    subject = await store.subject(mark.school_id, mark.subject_id)
    if subject is None:
        raise UnknownReferenceError("subject_id", mark.subject_id)
    teacher = await store.teacher(mark.school_id, mark.teacher_id)
    if teacher is None:
        raise UnknownReferenceError("teacher_id", mark.teacher_id)
    event = MarkPosted.new(mark_posted(mark, student, subject, teacher), producer=PRODUCER)
    return await store.add_mark(mark, event)


def mark_posted(
    mark: Mark, student: Student, subject: Subject, teacher: Teacher
) -> MarkPostedPayload:
    """The event carries the names a notification needs, so no consumer has to call back."""
    return MarkPostedPayload(
        mark_id=mark.mark_id,
        school_id=mark.school_id,
        student_id=student.student_id,
        student_name=student.name,
        class_name=student.class_name,
        subject_id=subject.subject_id,
        subject_name=subject.name,
        teacher_name=teacher.name,
        lesson_date=mark.lesson_date,
        value=mark.value,
        work_type=mark.work_type,
        weight=mark.weight,
        comment=mark.comment,
    )
