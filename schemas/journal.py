"""Events the grades service publishes from the electronic journal (ЭЖ).

Every fact carries the names a notification needs (student, class, subject, teacher, period),
so no consumer has to call back. Final marks and exam results carry `obtained_at`: the
24-hour clock of the regulation's clause 9 starts there.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import Envelope, SchoolPayload, StudentPayload

# Russian practice: 1–5, pass/fail (зачёт/незачёт) and exemption (осв.).
MarkValue = Literal["1", "2", "3", "4", "5", "зачёт", "незачёт", "осв."]
# A final mark may also be «не аттестован».
FinalValue = Literal["1", "2", "3", "4", "5", "зачёт", "незачёт", "осв.", "н/а"]
EducationLevel = Literal["primary", "basic", "secondary"]
PeriodKind = Literal["quarter", "trimester", "half_year", "year"]

Id = Field(min_length=1, max_length=100)


class StudentFacts(StudentPayload):
    school_id: str = Id
    student_name: str = Field(min_length=1)
    class_name: str = Field(min_length=1)
    record_version: int | None = Field(
        default=None,
        ge=1,
        description="The journal record's version after this change: it grows with every "
        "change of the record (a correction, a retraction), so a consumer that holds a later "
        "version ignores an older event arriving late. Absent from events published before "
        "it existed.",
    )


class MarkFacts(StudentFacts):
    mark_id: str = Field(min_length=1, description="The journal's own id of the mark.")
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_name: str = Field(min_length=1)
    lesson_date: date
    value: MarkValue
    work_type: str = Field(min_length=1, description="Type of work, e.g. «контрольная работа».")
    weight: float = Field(gt=0, le=10)
    comment: str | None = None


class MarkPostedPayload(MarkFacts):
    kind: Literal["mark_posted"] = "mark_posted"


class MarkCorrectedPayload(MarkFacts):
    """The mark as it is now; parents must learn that it changed, not just see a new one."""

    kind: Literal["mark_corrected"] = "mark_corrected"
    previous_value: MarkValue


class MarkRetractedPayload(MarkFacts):
    """The mark as it was when the journal took it back."""

    kind: Literal["mark_retracted"] = "mark_retracted"
    reason: str | None = None


class AbsenceRecordedPayload(StudentFacts):
    kind: Literal["absence_recorded"] = "absence_recorded"
    absence_id: str = Id
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    lesson_date: date
    lesson_number: int | None = Field(default=None, ge=0, le=12)
    code: str = Field(min_length=1, description="The school's absence code, e.g. «Б».")
    code_label: str = Field(min_length=1, description="What the code means, e.g. «болезнь».")


class PeriodFacts(StudentFacts):
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    period_id: str = Id
    period_name: str = Field(min_length=1, examples=["1 четверть", "2025/2026 учебный год"])
    period_kind: PeriodKind
    obtained_at: AwareDatetime = Field(description="When the result was obtained (clause 9).")


class FinalMarkPostedPayload(PeriodFacts):
    kind: Literal["final_mark_posted"] = "final_mark_posted"
    final_mark_id: str = Id
    value: FinalValue
    previous_value: FinalValue | None = Field(
        default=None, description="Set when this corrects an earlier final mark."
    )


class FinalMarkDeferredPayload(PeriodFacts):
    """Clause 8: a sick student's final mark is set later, by `deferred_until`."""

    kind: Literal["final_mark_deferred"] = "final_mark_deferred"
    final_mark_id: str = Id
    deferred_until: date
    reason: str = Field(min_length=1, examples=["болезнь"])


class ExamResultPostedPayload(StudentFacts):
    kind: Literal["exam_result_posted"] = "exam_result_posted"
    result_id: str = Id
    result_kind: Literal["exam", "competition"]
    title: str = Field(min_length=1, examples=["ОГЭ по математике", "Олимпиада по физике"])
    subject_id: str | None = None
    subject_name: str | None = None
    value: str = Field(min_length=1, description="A mark, a score or a place, as stated.")
    obtained_at: AwareDatetime = Field(description="When the result was obtained (clause 9).")
    previous_value: str | None = None


# Reference data other services need.


class SchoolChangedPayload(SchoolPayload):
    kind: Literal["school_changed"] = "school_changed"
    name: str = Field(min_length=1)
    timezone: str = Field(min_length=1, examples=["Europe/Moscow"])


class PeriodChangedPayload(SchoolPayload):
    kind: Literal["period_changed"] = "period_changed"
    period_id: str = Id
    name: str = Field(min_length=1)
    period_kind: PeriodKind
    school_year: str = Field(pattern=r"^\d{4}/\d{4}$", examples=["2026/2027"])
    starts_on: date
    ends_on: date


class ClassChangedPayload(SchoolPayload):
    kind: Literal["class_changed"] = "class_changed"
    class_id: str = Id
    name: str = Field(min_length=1, examples=["5А"])
    education_level: EducationLevel


class TeachingAssignment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    class_id: str = Id
    subject_id: str = Id


class TeacherChangedPayload(SchoolPayload):
    """Who teaches what to which class (clause 4: parents learn the class's teachers)."""

    kind: Literal["teacher_changed"] = "teacher_changed"
    teacher_id: str = Id
    name: str = Field(min_length=1)
    assignments: tuple[TeachingAssignment, ...] = ()


class StudentChangedPayload(StudentPayload):
    kind: Literal["student_changed"] = "student_changed"
    school_id: str = Id
    name: str = Field(min_length=1)
    class_id: str = Id
    class_name: str = Field(min_length=1)
    education_level: EducationLevel


class MarkPosted(Envelope[MarkPostedPayload]):
    topic: ClassVar[str] = "journal.marks.v1"
    type: Literal["MarkPosted"] = "MarkPosted"
    version: Literal[1] = 1


class MarkCorrected(Envelope[MarkCorrectedPayload]):
    topic: ClassVar[str] = "journal.marks.v1"
    type: Literal["MarkCorrected"] = "MarkCorrected"
    version: Literal[1] = 1


class MarkRetracted(Envelope[MarkRetractedPayload]):
    topic: ClassVar[str] = "journal.marks.v1"
    type: Literal["MarkRetracted"] = "MarkRetracted"
    version: Literal[1] = 1


class AbsenceRecorded(Envelope[AbsenceRecordedPayload]):
    topic: ClassVar[str] = "journal.attendance.v1"
    type: Literal["AbsenceRecorded"] = "AbsenceRecorded"
    version: Literal[1] = 1


class FinalMarkPosted(Envelope[FinalMarkPostedPayload]):
    topic: ClassVar[str] = "journal.final-marks.v1"
    type: Literal["FinalMarkPosted"] = "FinalMarkPosted"
    version: Literal[1] = 1


class FinalMarkDeferred(Envelope[FinalMarkDeferredPayload]):
    topic: ClassVar[str] = "journal.final-marks.v1"
    type: Literal["FinalMarkDeferred"] = "FinalMarkDeferred"
    version: Literal[1] = 1


class ExamResultPosted(Envelope[ExamResultPostedPayload]):
    topic: ClassVar[str] = "journal.exams.v1"
    type: Literal["ExamResultPosted"] = "ExamResultPosted"
    version: Literal[1] = 1


class SchoolChanged(Envelope[SchoolChangedPayload]):
    topic: ClassVar[str] = "journal.reference.v1"
    type: Literal["SchoolChanged"] = "SchoolChanged"
    version: Literal[1] = 1


class PeriodChanged(Envelope[PeriodChangedPayload]):
    topic: ClassVar[str] = "journal.reference.v1"
    type: Literal["PeriodChanged"] = "PeriodChanged"
    version: Literal[1] = 1


class ClassChanged(Envelope[ClassChangedPayload]):
    topic: ClassVar[str] = "journal.reference.v1"
    type: Literal["ClassChanged"] = "ClassChanged"
    version: Literal[1] = 1


class StudentChanged(Envelope[StudentChangedPayload]):
    topic: ClassVar[str] = "journal.reference.v1"
    type: Literal["StudentChanged"] = "StudentChanged"
    version: Literal[1] = 1


class TeacherChanged(Envelope[TeacherChangedPayload]):
    topic: ClassVar[str] = "journal.reference.v1"
    type: Literal["TeacherChanged"] = "TeacherChanged"
    version: Literal[1] = 1


# What a consumer of a topic must accept: any of its event types, told apart by `type`.
MarkEvent = Annotated[MarkPosted | MarkCorrected | MarkRetracted, Field(discriminator="type")]
FinalMarkEvent = Annotated[FinalMarkPosted | FinalMarkDeferred, Field(discriminator="type")]
ReferenceEvent = Annotated[
    SchoolChanged | PeriodChanged | ClassChanged | StudentChanged | TeacherChanged,
    Field(discriminator="type"),
]
