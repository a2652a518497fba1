"""What the journal sends: reference records (PUT) and journal items (in batches).

These models are the journal's input contract; the API, the CSV import and the domain share
them. A batch is validated item by item, so one bad item never costs its neighbours.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from schemas import FinalValue, MarkValue
from schemas.journal import EducationLevel, PeriodKind
from services.shared.timezones import zone_named

JournalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]
BATCH_LIMIT = 1000

# The validation context for records read back from the store: what was accepted before a
# rule existed (a period ending before it starts, say) must still be readable.
AS_STORED = {"as_stored": True}


def _new_input(info: ValidationInfo) -> bool:
    return not (info.context or {}).get("as_stored")


# What a person types: no control characters but tabs and line breaks. PostgreSQL (under the
# local FerretDB) cannot store a NUL at all, and the rest only garble e-mails and printouts.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _typed(text: str, info: ValidationInfo) -> str:
    if _new_input(info) and _CONTROL.search(text):
        raise ValueError("must not contain control characters")
    return text


# The same rule, stated in the OpenAPI document (the validator gives the clearer message).
_CONTROL_FREE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
TypedText = Annotated[
    str, AfterValidator(_typed), Field(json_schema_extra={"pattern": _CONTROL_FREE})
]


# Dates of a school's life. Anything else is a typo, and near the ends of the calendar a
# consumer's arithmetic (a deadline 24 hours later, the week around a date) would overflow.
EARLIEST, LATEST = date(1990, 1, 1), date(2100, 12, 31)


def _school_date(day: date, info: ValidationInfo) -> date:
    if _new_input(info) and not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return day


def _school_moment(moment: datetime, info: ValidationInfo) -> datetime:
    # Its own date: in UTC it may not exist (9999-12-31 at -12:00).
    _school_date(moment.date(), info)
    return moment


SchoolDate = Annotated[date, AfterValidator(_school_date)]
SchoolMoment = Annotated[AwareDatetime, AfterValidator(_school_moment)]


def not_before(earlier: str) -> AfterValidator:
    """A date (or time) that must not come before the model's field `earlier` (declared
    before it): an end, a due date, a valid-to."""

    def check(value: Any, info: ValidationInfo) -> Any:
        first = info.data.get(earlier)
        if _new_input(info) and first is not None and value < first:
            raise ValueError(f"must not be before {earlier}")
        return value

    return AfterValidator(check)


def _consecutive_years(school_year: str, info: ValidationInfo) -> str:
    first, second = map(int, school_year.split("/"))
    if _new_input(info) and second != first + 1:
        raise ValueError("must be two consecutive years, such as 2026/2027")
    return school_year


SchoolYear = Annotated[
    str,
    Field(pattern=r"^\d{4}/\d{4}$", examples=["2026/2027"]),
    AfterValidator(_consecutive_years),
]


def _field_name(key: str, info: ValidationInfo) -> str:
    # Kept as keys of a document: no store takes '.' or a leading '$' in a field name.
    if _new_input(info) and ("." in key or key.startswith("$")):
        raise ValueError("must not contain '.' or begin with '$'")
    return key


AbsenceCode = Annotated[TypedText, AfterValidator(_field_name), Field(min_length=1, max_length=10)]
AbsenceLabel = Annotated[TypedText, Field(min_length=1, max_length=100)]

DEFAULT_ABSENCE_CODES = {
    "Н": "отсутствие",
    "Б": "болезнь",
    "УП": "уважительная причина",
    "ОП": "опоздание",
}


class Input(BaseModel):
    """Base of what the journal sends: immutable, and an unknown field is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def with_examples(*examples: dict[str, Any]) -> ConfigDict:
    """An `Input`'s configuration with whole examples for the OpenAPI document."""
    return ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [*examples]})


LessonNumber = Annotated[int, Field(ge=0, le=12, description="0 is the zero lesson.")]


# Reference records, upserted whole by the journal.


class SchoolIn(Input):
    name: TypedText = Field(min_length=1, max_length=300, examples=["МБОУ «Школа № 1»"])
    timezone: str = Field("Europe/Moscow", min_length=1, max_length=64)
    mark_values: tuple[MarkValue, ...] = Field(
        ("1", "2", "3", "4", "5", "зачёт", "незачёт", "осв."),
        min_length=1,
        max_length=len(get_args(MarkValue)),
        description="The school's mark scale: which values its teachers may give.",
    )
    absence_codes: dict[AbsenceCode, AbsenceLabel] = Field(
        default_factory=lambda: dict(DEFAULT_ABSENCE_CODES),
        max_length=30,
        description="Absence codes and what they mean, as the school's journal uses them.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, timezone: str, info: ValidationInfo) -> str:
        if not _new_input(info):
            return timezone
        try:
            zone_named(timezone)
        except ValueError:
            raise ValueError("not an IANA time zone, such as Europe/Moscow") from None
        return timezone


class PeriodIn(Input):
    name: TypedText = Field(min_length=1, max_length=100, examples=["1 четверть"])
    period_kind: PeriodKind
    school_year: SchoolYear
    starts_on: SchoolDate
    ends_on: Annotated[SchoolDate, not_before("starts_on")]


class ClassIn(Input):
    name: TypedText = Field(min_length=1, max_length=50, examples=["5А"])
    education_level: EducationLevel


class StudentIn(Input):
    name: TypedText = Field(min_length=1, max_length=300, examples=["Иванов Иван"])
    class_id: JournalId


class SubjectIn(Input):
    name: TypedText = Field(min_length=1, max_length=200, examples=["Математика"])


class AssignmentIn(Input):
    class_id: JournalId
    subject_id: JournalId


class TeacherIn(Input):
    name: TypedText = Field(min_length=1, max_length=300, examples=["Петрова Анна Сергеевна"])
    assignments: tuple[AssignmentIn, ...] = Field(
        (), max_length=500, description="Which subject the teacher teaches to which class."
    )


# Journal items.


class MarkItem(Input):
    kind: Literal["mark"] = "mark"
    mark_id: JournalId
    student_id: JournalId
    subject_id: JournalId
    teacher_id: JournalId
    lesson_date: SchoolDate
    value: MarkValue
    work_type: TypedText = Field(min_length=1, max_length=200, examples=["контрольная работа"])
    weight: float = Field(1.0, gt=0, le=10)
    comment: TypedText | None = Field(None, max_length=2000)


class MarkRetractionItem(Input):
    kind: Literal["mark_retraction"] = "mark_retraction"
    mark_id: JournalId
    reason: TypedText | None = Field(None, max_length=500)


class AbsenceItem(Input):
    kind: Literal["absence"] = "absence"
    absence_id: JournalId
    student_id: JournalId
    subject_id: JournalId
    lesson_date: SchoolDate
    lesson_number: int | None = Field(None, ge=0, le=12)
    code: TypedText = Field(min_length=1, max_length=10, examples=["Б"])


class FinalMarkItem(Input):
    """A final mark for a period or the year: a value (or «н/а»), or deferred for illness."""

    kind: Literal["final_mark"] = "final_mark"
    final_mark_id: JournalId
    student_id: JournalId
    subject_id: JournalId
    period_id: JournalId
    value: FinalValue | None = None
    deferred_until: SchoolDate | None = Field(
        None, description="Set instead of `value` (clause 8)."
    )
    deferral_reason: TypedText = Field("болезнь", min_length=1, max_length=200)
    obtained_at: SchoolMoment = Field(description="When the result was obtained (clause 9).")


class ExamResultItem(Input):
    kind: Literal["exam_result"] = "exam_result"
    result_id: JournalId
    student_id: JournalId
    result_kind: Literal["exam", "competition"]
    title: TypedText = Field(min_length=1, max_length=300, examples=["ОГЭ по математике"])
    subject_id: JournalId | None = None
    value: TypedText = Field(min_length=1, max_length=50, examples=["5", "28 баллов", "2 место"])
    obtained_at: SchoolMoment


JournalItem = Annotated[
    MarkItem | MarkRetractionItem | AbsenceItem | FinalMarkItem | ExamResultItem,
    Field(discriminator="kind"),
]
_ITEM = TypeAdapter[JournalItem](JournalItem)


class FieldError(Input):
    field: str
    reason: str


def parse_item(raw: Any) -> JournalItem | list[FieldError]:
    """One item, or what is wrong with it (field paths as the journal wrote them)."""
    try:
        item = _ITEM.validate_python(raw)
    except ValidationError as error:
        return field_errors(error, _KINDS)
    if isinstance(item, FinalMarkItem) and (item.value is None) == (item.deferred_until is None):
        return [FieldError(field="value", reason="give either value or deferred_until")]
    return item


def field_errors(error: ValidationError, kinds: Collection[str]) -> list[FieldError]:
    """What is wrong with an item of a union tagged by `kind`, by field path."""
    # A validator's own words, without the prefix pydantic puts before them (as in a 422).
    return [
        FieldError(
            field=_field_path(e["loc"], kinds), reason=e["msg"].removeprefix("Value error, ")
        )
        for e in error.errors()
    ]


def _field_path(loc: tuple[int | str, ...], kinds: Collection[str]) -> str:
    # Drop the union tag pydantic puts first (e.g. "mark"): the journal never wrote it.
    parts = list(loc[1:]) if loc and loc[0] in kinds else list(loc)
    return ".".join(map(str, parts)) or "kind"


_KINDS = {"mark", "mark_retraction", "absence", "final_mark", "exam_result"}


class BatchIn(BaseModel):
    """Up to 1,000 journal items; each is validated and answered on its own."""

    items: list[dict[str, Any]] = Field(min_length=1, max_length=BATCH_LIMIT)
    announce: bool = Field(
        True,
        description="False: loaded with a schedule (a term's tests, say), not news. Copied "
        "into the `announce` of the lesson changes, assessments and homework it publishes.",
    )
