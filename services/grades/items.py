"""What the journal sends: reference records (PUT) and journal items (in batches).

These models are the journal's input contract; the API, the CSV import and the domain share
them. A batch is validated item by item, so one bad item never costs its neighbours.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from schemas import FinalValue, MarkValue
from schemas.journal import EducationLevel, PeriodKind

JournalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]
BATCH_LIMIT = 1000

DEFAULT_ABSENCE_CODES = {
    "Н": "отсутствие",
    "Б": "болезнь",
    "УП": "уважительная причина",
    "ОП": "опоздание",
}


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Reference records, upserted whole by the journal.


class SchoolIn(_Input):
    name: str = Field(min_length=1, examples=["МБОУ «Школа № 1»"])
    timezone: str = Field("Europe/Moscow", min_length=1)
    mark_values: tuple[MarkValue, ...] = Field(
        ("1", "2", "3", "4", "5", "зачёт", "незачёт", "осв."),
        min_length=1,
        description="The school's mark scale: which values its teachers may give.",
    )
    absence_codes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ABSENCE_CODES),
        description="Absence codes and what they mean, as the school's journal uses them.",
    )


class PeriodIn(_Input):
    name: str = Field(min_length=1, examples=["1 четверть"])
    period_kind: PeriodKind
    school_year: str = Field(pattern=r"^\d{4}/\d{4}$", examples=["2026/2027"])
    starts_on: date
    ends_on: date


class ClassIn(_Input):
    name: str = Field(min_length=1, examples=["5А"])
    education_level: EducationLevel


class StudentIn(_Input):
    name: str = Field(min_length=1, examples=["Иванов Иван"])
    class_id: JournalId


class SubjectIn(_Input):
    name: str = Field(min_length=1, examples=["Математика"])


class AssignmentIn(_Input):
    class_id: JournalId
    subject_id: JournalId


class TeacherIn(_Input):
    name: str = Field(min_length=1, examples=["Петрова Анна Сергеевна"])
    assignments: tuple[AssignmentIn, ...] = Field(
        (), description="Which subject the teacher teaches to which class."
    )


# Journal items.


class MarkItem(_Input):
    kind: Literal["mark"] = "mark"
    mark_id: JournalId
    student_id: JournalId
    subject_id: JournalId
    teacher_id: JournalId
    lesson_date: date
    value: MarkValue
    work_type: str = Field(min_length=1, max_length=200, examples=["контрольная работа"])
    weight: float = Field(1.0, gt=0, le=10)
    comment: str | None = Field(None, max_length=2000)


class MarkRetractionItem(_Input):
    kind: Literal["mark_retraction"] = "mark_retraction"
    mark_id: JournalId
    reason: str | None = Field(None, max_length=500)


class AbsenceItem(_Input):
    kind: Literal["absence"] = "absence"
    absence_id: JournalId
    student_id: JournalId
    subject_id: JournalId
    lesson_date: date
    lesson_number: int | None = Field(None, ge=0, le=12)
    code: str = Field(min_length=1, max_length=10, examples=["Б"])


class FinalMarkItem(_Input):
    """A final mark for a period or the year: a value (or «н/а»), or deferred for illness."""

    kind: Literal["final_mark"] = "final_mark"
    final_mark_id: JournalId
    student_id: JournalId
    subject_id: JournalId
    period_id: JournalId
    value: FinalValue | None = None
    deferred_until: date | None = Field(None, description="Set instead of `value` (clause 8).")
    deferral_reason: str = Field("болезнь", min_length=1, max_length=200)
    obtained_at: AwareDatetime = Field(description="When the result was obtained (clause 9).")


class ExamResultItem(_Input):
    kind: Literal["exam_result"] = "exam_result"
    result_id: JournalId
    student_id: JournalId
    result_kind: Literal["exam", "competition"]
    title: str = Field(min_length=1, max_length=300, examples=["ОГЭ по математике"])
    subject_id: JournalId | None = None
    value: str = Field(min_length=1, max_length=50, examples=["5", "28 баллов", "2 место"])
    obtained_at: AwareDatetime


JournalItem = Annotated[
    MarkItem | MarkRetractionItem | AbsenceItem | FinalMarkItem | ExamResultItem,
    Field(discriminator="kind"),
]
_ITEM = TypeAdapter[JournalItem](JournalItem)


class FieldError(_Input):
    field: str
    reason: str


def parse_item(raw: Any) -> JournalItem | list[FieldError]:
    """One item, or what is wrong with it (field paths as the journal wrote them)."""
    try:
        item = _ITEM.validate_python(raw)
    except ValidationError as error:
        return [FieldError(field=_field_path(e["loc"]), reason=e["msg"]) for e in error.errors()]
    if isinstance(item, FinalMarkItem) and (item.value is None) == (item.deferred_until is None):
        return [FieldError(field="value", reason="give either value or deferred_until")]
    return item


def _field_path(loc: tuple[int | str, ...]) -> str:
    # Drop the union tag pydantic puts first (e.g. "mark"): the journal never wrote it.
    parts = list(loc[1:]) if loc and loc[0] in _KINDS else list(loc)
    return ".".join(map(str, parts)) or "kind"


_KINDS = {"mark", "mark_retraction", "absence", "final_mark", "exam_result"}


class BatchIn(BaseModel):
    """Up to 1,000 journal items; each is validated and answered on its own."""

    items: list[dict[str, Any]] = Field(min_length=1, max_length=BATCH_LIMIT)
