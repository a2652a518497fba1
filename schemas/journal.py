"""Events the grades service publishes from the electronic journal (ЭЖ)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from schemas.envelope import Envelope, Payload

# Russian practice: 1–5, pass/fail (зачёт/незачёт) and exemption (осв.).
MarkValue = Literal["1", "2", "3", "4", "5", "зачёт", "незачёт", "осв."]


class MarkPostedPayload(Payload):
    kind: Literal["mark_posted"] = "mark_posted"
    mark_id: str = Field(min_length=1, description="The journal's own id of the mark.")
    school_id: str = Field(min_length=1)
    student_name: str = Field(min_length=1)
    class_name: str = Field(min_length=1)
    subject_id: str = Field(min_length=1)
    subject_name: str = Field(min_length=1)
    teacher_name: str = Field(min_length=1)
    lesson_date: date
    value: MarkValue
    work_type: str = Field(min_length=1, description="Type of work, e.g. «контрольная работа».")
    weight: float = Field(gt=0, le=10)
    comment: str | None = None


class MarkPosted(Envelope[MarkPostedPayload]):
    topic: ClassVar[str] = "journal.marks.v1"
    type: Literal["MarkPosted"] = "MarkPosted"
    version: Literal[1] = 1
