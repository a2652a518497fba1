"""Events about a class's work and a student's guidance (clause 4): planned assessments,
homework and teachers' recommendations, each posted, corrected and retracted like a mark.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import Envelope
from schemas.journal import Id, StudentFacts
from schemas.timetable import CLASS_5A, Announce, ClassFacts

# test: контрольная работа; check: проверочная работа; national_check: ВПР.
AssessmentKind = Literal["test", "check", "national_check", "other"]


class AssessmentFacts(ClassFacts):
    assessment_id: str = Field(min_length=1, description="The journal's own id.")
    assessment_kind: AssessmentKind
    title: str | None = Field(None, min_length=1, examples=["Контрольная работа по теме «Дроби»"])
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_name: str | None = Field(None, min_length=1)
    period_id: str | None = Field(None, min_length=1, max_length=100)
    assessment_date: date
    lesson_number: int | None = Field(None, ge=0, le=12)
    announce: bool = Announce


class AssessmentPlannedPayload(AssessmentFacts):
    kind: Literal["assessment_planned"] = "assessment_planned"


class AssessmentRescheduledPayload(AssessmentFacts):
    """The assessment as planned now (a moved date is news); `previous_date` as told before."""

    kind: Literal["assessment_rescheduled"] = "assessment_rescheduled"
    previous_date: date
    previous_lesson_number: int | None = Field(None, ge=0, le=12)


class AssessmentCancelledPayload(AssessmentFacts):
    kind: Literal["assessment_cancelled"] = "assessment_cancelled"
    reason: str | None = None


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    url: str = Field(min_length=1, examples=["https://journal.example/files/hw-1.pdf"])
    title: str | None = None


class HomeworkFacts(ClassFacts):
    homework_id: str = Field(min_length=1, description="The journal's own id.")
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_name: str = Field(min_length=1)
    lesson_date: date = Field(description="The lesson it was set at.")
    lesson_number: int | None = Field(None, ge=0, le=12)
    due_on: date
    text: str = Field(min_length=1, examples=["№ 245, 247; повторить правило на с. 63"])
    attachments: tuple[Attachment, ...] = ()
    announce: bool = Announce


class HomeworkAssignedPayload(HomeworkFacts):
    kind: Literal["homework_assigned"] = "homework_assigned"


class HomeworkCorrectedPayload(HomeworkFacts):
    kind: Literal["homework_corrected"] = "homework_corrected"
    previous_due_on: date


class HomeworkRetractedPayload(HomeworkFacts):
    kind: Literal["homework_retracted"] = "homework_retracted"
    reason: str | None = None


class RecommendationFacts(StudentFacts):
    """A teacher's recommendation to one student: general, or about one subject."""

    recommendation_id: str = Field(min_length=1, description="The journal's own id.")
    teacher_name: str = Field(min_length=1)
    subject_id: str | None = Field(None, min_length=1, max_length=100)
    subject_name: str | None = Field(None, min_length=1)
    given_on: date
    text: str = Field(min_length=1, examples=["Повторить таблицу умножения на 7 и 8"])


class RecommendationPostedPayload(RecommendationFacts):
    kind: Literal["recommendation_posted"] = "recommendation_posted"


class RecommendationCorrectedPayload(RecommendationFacts):
    kind: Literal["recommendation_corrected"] = "recommendation_corrected"


class RecommendationRetractedPayload(RecommendationFacts):
    kind: Literal["recommendation_retracted"] = "recommendation_retracted"
    reason: str | None = None


# The documentation's examples (see `Envelope.example_payload`).
TEST: dict[str, Any] = {
    **CLASS_5A,
    "assessment_id": "a-1",
    "assessment_kind": "test",
    "title": "Контрольная работа «Дроби»",
    "subject_id": "math",
    "subject_name": "Математика",
    "teacher_name": "Петрова Анна Сергеевна",
    "period_id": "q2",
    "assessment_date": "2026-12-10",
    "lesson_number": 2,
}
HOMEWORK: dict[str, Any] = {
    **CLASS_5A,
    "homework_id": "hw-1",
    "subject_id": "math",
    "subject_name": "Математика",
    "teacher_name": "Петрова Анна Сергеевна",
    "lesson_date": "2026-11-30",
    "lesson_number": 1,
    "due_on": "2026-12-02",
    "text": "№ 245, 247; повторить правило на с. 63",
    "attachments": [{"url": "https://journal.example/files/hw-1.pdf", "title": "Карточка"}],
}
RECOMMENDATION: dict[str, Any] = {
    "school_id": "school-1",
    "student_id": "st-1",
    "student_name": "Иванов Иван",
    "class_name": "5А",
    "recommendation_id": "r-1",
    "teacher_name": "Петрова Анна Сергеевна",
    "subject_id": "math",
    "subject_name": "Математика",
    "given_on": "2026-11-30",
    "text": "Повторить таблицу умножения на 7 и 8",
}


class AssessmentPlanned(Envelope[AssessmentPlannedPayload]):
    topic: ClassVar[str] = "journal.assessments.v1"
    type: Literal["AssessmentPlanned"] = "AssessmentPlanned"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**TEST, "record_version": 1}


class AssessmentRescheduled(Envelope[AssessmentRescheduledPayload]):
    topic: ClassVar[str] = "journal.assessments.v1"
    type: Literal["AssessmentRescheduled"] = "AssessmentRescheduled"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **TEST,
        "record_version": 2,
        "assessment_date": "2026-12-12",
        "previous_date": "2026-12-10",
        "previous_lesson_number": 2,
    }


class AssessmentCancelled(Envelope[AssessmentCancelledPayload]):
    topic: ClassVar[str] = "journal.assessments.v1"
    type: Literal["AssessmentCancelled"] = "AssessmentCancelled"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **TEST,
        "record_version": 3,
        "reason": "перенос на следующую четверть",
    }


class HomeworkAssigned(Envelope[HomeworkAssignedPayload]):
    topic: ClassVar[str] = "journal.homework.v1"
    type: Literal["HomeworkAssigned"] = "HomeworkAssigned"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**HOMEWORK, "record_version": 1}


class HomeworkCorrected(Envelope[HomeworkCorrectedPayload]):
    topic: ClassVar[str] = "journal.homework.v1"
    type: Literal["HomeworkCorrected"] = "HomeworkCorrected"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **HOMEWORK,
        "record_version": 2,
        "due_on": "2026-12-03",
        "previous_due_on": "2026-12-02",
    }


class HomeworkRetracted(Envelope[HomeworkRetractedPayload]):
    topic: ClassVar[str] = "journal.homework.v1"
    type: Literal["HomeworkRetracted"] = "HomeworkRetracted"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **HOMEWORK,
        "record_version": 3,
        "reason": "задано по ошибке",
    }


class RecommendationPosted(Envelope[RecommendationPostedPayload]):
    topic: ClassVar[str] = "journal.recommendations.v1"
    type: Literal["RecommendationPosted"] = "RecommendationPosted"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**RECOMMENDATION, "record_version": 1}


class RecommendationCorrected(Envelope[RecommendationCorrectedPayload]):
    topic: ClassVar[str] = "journal.recommendations.v1"
    type: Literal["RecommendationCorrected"] = "RecommendationCorrected"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **RECOMMENDATION,
        "record_version": 2,
        "text": "Повторить таблицу умножения на 6, 7 и 8",
    }


class RecommendationRetracted(Envelope[RecommendationRetractedPayload]):
    topic: ClassVar[str] = "journal.recommendations.v1"
    type: Literal["RecommendationRetracted"] = "RecommendationRetracted"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **RECOMMENDATION,
        "record_version": 3,
        "reason": "повторено",
    }


AssessmentEvent = Annotated[
    AssessmentPlanned | AssessmentRescheduled | AssessmentCancelled, Field(discriminator="type")
]
HomeworkEvent = Annotated[
    HomeworkAssigned | HomeworkCorrected | HomeworkRetracted, Field(discriminator="type")
]
RecommendationEvent = Annotated[
    RecommendationPosted | RecommendationCorrected | RecommendationRetracted,
    Field(discriminator="type"),
]
