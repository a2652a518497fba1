"""What the journal sends about a family's school week (clause 4): the batch items.

Idempotent by the journal's id like marks, answered item by item (a term's timetable is
thousands of rows and comes through the CSV import): timetable lessons, lesson changes, planned
assessments, homework and recommendations, each with its retraction; and clause 7's lessons held
(`curriculum_items.py`). The reference records (groups, individual curricula, bells, the
calendar) are in `week_references.py`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from schemas.classwork import AssessmentKind
from schemas.timetable import LessonChangeKind, WeekParity
from services.grades.curriculum_items import LessonHeldItem, LessonHeldRemovalItem
from services.grades.items import (
    AbsenceItem,
    ExamResultItem,
    FieldError,
    FinalMarkItem,
    Input,
    JournalId,
    JournalItem,
    LessonNumber,
    MarkItem,
    MarkRetractionItem,
    SchoolDate,
    TypedText,
    field_errors,
    not_before,
    parse_item,
)

Reason = Annotated[TypedText, Field(min_length=1, max_length=500, examples=["болезнь учителя"])]
Room = Annotated[TypedText, Field(min_length=1, max_length=50, examples=["214"])]
Text = Annotated[TypedText, Field(min_length=1, max_length=5000)]


# A class's (or one group's) lessons and work, a student's recommendation.


class _ForClass(Input):
    class_id: JournalId
    group_id: JournalId | None = Field(None, description="Only this group of the class.")


class TimetableLessonItem(_ForClass):
    """One weekly lesson of the timetable, from `valid_from` to `valid_to`."""

    kind: Literal["timetable_lesson"] = "timetable_lesson"
    lesson_id: JournalId
    weekday: int = Field(ge=1, le=6, description="1 is Monday, 6 Saturday.")
    lesson_number: LessonNumber
    week: WeekParity = Field("every", description="A or B where the school alternates weeks.")
    subject_id: JournalId
    teacher_id: JournalId
    room: Room | None = None
    valid_from: SchoolDate
    valid_to: Annotated[SchoolDate, not_before("valid_from")]


class TimetableLessonRemovalItem(Input):
    kind: Literal["timetable_lesson_removal"] = "timetable_lesson_removal"
    lesson_id: JournalId


class LessonChangeItem(_ForClass):
    """A lesson on one day unlike the timetable, with the reason families are shown."""

    kind: Literal["lesson_change"] = "lesson_change"
    change_id: JournalId
    change: LessonChangeKind
    lesson_date: SchoolDate
    lesson_number: LessonNumber
    subject_id: JournalId
    reason: Reason
    timetable_lesson_id: JournalId | None = Field(None, description="The lesson it changes.")
    teacher_id: JournalId | None = Field(
        None, validate_default=True, description="Who teaches it; required for an extra lesson."
    )
    substitute_teacher_id: JournalId | None = Field(None, validate_default=True)
    room: Room | None = None
    new_room: Room | None = None
    new_lesson_number: LessonNumber | None = None
    new_date: SchoolDate | None = Field(None, validate_default=True)

    @field_validator("teacher_id")
    @classmethod
    def _extra_has_a_teacher(cls, teacher_id: str | None, info: ValidationInfo) -> str | None:
        if teacher_id is None and info.data.get("change") == "extra":
            raise ValueError("an extra lesson needs its teacher_id")
        return teacher_id

    @field_validator("substitute_teacher_id")
    @classmethod
    def _substitution_has_a_substitute(
        cls, substitute: str | None, info: ValidationInfo
    ) -> str | None:
        if (substitute is None) == (info.data.get("change") == "substitution"):
            raise ValueError("given for a substitution, and only for one")
        return substitute

    @field_validator("new_date")
    @classmethod
    def _a_move_goes_somewhere(cls, new_date: date | None, info: ValidationInfo) -> date | None:
        moved = any(
            value is not None
            for value in (new_date, info.data.get("new_lesson_number"), info.data.get("new_room"))
        )
        if info.data.get("change") == "move" and not moved:
            raise ValueError("a move needs new_date, new_lesson_number or new_room")
        if info.data.get("change") != "move" and moved:
            raise ValueError("new_date, new_lesson_number and new_room belong to a move")
        return new_date


class LessonChangeRetractionItem(Input):
    kind: Literal["lesson_change_retraction"] = "lesson_change_retraction"
    change_id: JournalId
    reason: Reason | None = None


class AssessmentItem(_ForClass):
    """A planned test: контрольная (`test`), проверочная (`check`), ВПР (`national_check`)."""

    kind: Literal["assessment"] = "assessment"
    assessment_id: JournalId
    assessment_kind: AssessmentKind
    title: TypedText | None = Field(None, min_length=1, max_length=300)
    subject_id: JournalId
    teacher_id: JournalId | None = None
    period_id: JournalId | None = Field(None, description="The reporting period it belongs to.")
    assessment_date: SchoolDate
    lesson_number: LessonNumber | None = None


class AssessmentCancellationItem(Input):
    kind: Literal["assessment_cancellation"] = "assessment_cancellation"
    assessment_id: JournalId
    reason: Reason | None = None


class AttachmentIn(Input):
    url: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        examples=["https://journal.example/files/hw-1.pdf"],
    )
    title: TypedText | None = Field(None, min_length=1, max_length=300)


class HomeworkItem(_ForClass):
    kind: Literal["homework"] = "homework"
    homework_id: JournalId
    subject_id: JournalId
    teacher_id: JournalId
    lesson_date: SchoolDate = Field(description="The lesson it is set at.")
    lesson_number: LessonNumber | None = None
    due_on: Annotated[SchoolDate, not_before("lesson_date")]
    text: Text
    attachments: tuple[AttachmentIn, ...] = Field((), max_length=20)


class HomeworkRetractionItem(Input):
    kind: Literal["homework_retraction"] = "homework_retraction"
    homework_id: JournalId
    reason: Reason | None = None


class RecommendationItem(Input):
    """A teacher's recommendation to one student: general, or about `subject_id`."""

    kind: Literal["recommendation"] = "recommendation"
    recommendation_id: JournalId
    student_id: JournalId
    teacher_id: JournalId
    subject_id: JournalId | None = None
    given_on: SchoolDate
    text: Text


class RecommendationRetractionItem(Input):
    kind: Literal["recommendation_retraction"] = "recommendation_retraction"
    recommendation_id: JournalId
    reason: Reason | None = None


WeekItem = Annotated[
    TimetableLessonItem
    | TimetableLessonRemovalItem
    | LessonChangeItem
    | LessonChangeRetractionItem
    | AssessmentItem
    | AssessmentCancellationItem
    | HomeworkItem
    | HomeworkRetractionItem
    | RecommendationItem
    | RecommendationRetractionItem
    | LessonHeldItem
    | LessonHeldRemovalItem,
    Field(discriminator="kind"),
]
_ITEM = TypeAdapter[WeekItem](WeekItem)
WEEK_KINDS = frozenset(
    {
        "timetable_lesson",
        "timetable_lesson_removal",
        "lesson_change",
        "lesson_change_retraction",
        "assessment",
        "assessment_cancellation",
        "homework",
        "homework_retraction",
        "recommendation",
        "recommendation_retraction",
        "lesson_held",
        "lesson_held_removal",
    }
)


def parse_week_item(raw: Any) -> WeekItem | list[FieldError]:
    """One item, or what is wrong with it (field paths as the journal wrote them)."""
    try:
        return _ITEM.validate_python(raw)
    except ValidationError as error:
        return field_errors(error, WEEK_KINDS)


# Everything a batch may hold: the journal's items and the school week's, in one union (how the
# OpenAPI document shows the batch).
BatchItem = Annotated[
    MarkItem
    | MarkRetractionItem
    | AbsenceItem
    | FinalMarkItem
    | ExamResultItem
    | TimetableLessonItem
    | TimetableLessonRemovalItem
    | LessonChangeItem
    | LessonChangeRetractionItem
    | AssessmentItem
    | AssessmentCancellationItem
    | HomeworkItem
    | HomeworkRetractionItem
    | RecommendationItem
    | RecommendationRetractionItem
    | LessonHeldItem
    | LessonHeldRemovalItem,
    Field(discriminator="kind"),
]


def parse_batch_item(raw: Any) -> JournalItem | WeekItem | list[FieldError]:
    """Any item of a batch, or what is wrong with it."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    # Any JSON may come as a kind (a list, say): only a string can name one of ours.
    if isinstance(kind, str) and kind in WEEK_KINDS:
        return parse_week_item(raw)
    return parse_item(raw)
