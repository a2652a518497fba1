"""Events about who learns with whom and when (clause 4): groups inside a class, individual
curricula, the bell schedule, the weekly timetable, lesson changes and the school calendar.

Loading the timetable is not news: its events feed read models and the digest, never a notice.
A lesson change is news, with the reason families are shown. Like marks, every fact carries the
names a notice needs and the journal record's `record_version`.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.envelope import ClassPayload, Envelope, SchoolPayload, StudentPayload
from schemas.journal import EducationLevel, Id

# Which weeks a lesson runs in, where a school alternates an A week and a B week.
WeekParity = Literal["every", "A", "B"]
GroupKind = Literal["subject_split", "elective"]
LessonChangeKind = Literal["substitution", "move", "cancellation", "extra"]
NonSchoolDaysKind = Literal["holidays", "public_holiday", "quarantine", "other"]

Version = Field(default=None, ge=1, description="The journal record's version after this change.")
Announce = Field(
    default=True,
    description="False when the journal loaded it with a schedule (a term's tests, say): "
    "families see it in their week and digest, but it is not news.",
)


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClassFacts(ClassPayload):
    """A fact about a whole class, or about one group in it (`group_id` set)."""

    class_name: str = Field(min_length=1, examples=["5А"])
    education_level: EducationLevel
    group_id: str | None = Field(None, min_length=1, max_length=100)
    group_name: str | None = Field(None, min_length=1, examples=["Английский, группа 1"])
    record_version: int | None = Version


class GroupChangedPayload(ClassFacts):
    """A group inside a class: a subject split into groups, or an elective."""

    kind: Literal["group_changed"] = "group_changed"
    group_kind: GroupKind
    subject_id: str | None = Field(None, min_length=1, max_length=100)
    subject_name: str | None = Field(None, min_length=1)
    student_ids: tuple[str, ...] = ()
    teacher_ids: tuple[str, ...] = ()


class CurriculumSubject(_Part):
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_id: str | None = Field(None, min_length=1, max_length=100)
    teacher_name: str | None = Field(None, min_length=1)
    group_id: str | None = Field(None, min_length=1, max_length=100)
    hours_per_week: float | None = Field(None, gt=0, le=40)


class IndividualCurriculumChangedPayload(StudentPayload):
    """A student on an individual curriculum (ИУП), at their own programme level."""

    kind: Literal["individual_curriculum_changed"] = "individual_curriculum_changed"
    school_id: str = Id
    class_id: str = Id
    school_year: str = Field(pattern=r"^\d{4}/\d{4}$", examples=["2026/2027"])
    education_level: EducationLevel
    valid_from: date
    valid_to: date
    subjects: tuple[CurriculumSubject, ...]


class Bell(_Part):
    lesson_number: int = Field(ge=0, le=12)
    starts_at: time
    ends_at: time


class BellScheduleChangedPayload(SchoolPayload):
    kind: Literal["bell_schedule_changed"] = "bell_schedule_changed"
    bell_schedule_id: str = Id
    name: str = Field(min_length=1, examples=["Основное расписание звонков"])
    education_levels: tuple[EducationLevel, ...] = Field((), description="Empty: every level.")
    class_ids: tuple[str, ...] = Field((), description="Empty: every class of those levels.")
    bells: tuple[Bell, ...]


class TimetableLessonFacts(ClassFacts):
    lesson_id: str = Field(min_length=1, description="The journal's own id of the lesson.")
    weekday: int = Field(ge=1, le=7, description="ISO: 1 is Monday.")
    lesson_number: int = Field(ge=0, le=12)
    week: WeekParity = "every"
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_id: str = Id
    teacher_name: str = Field(min_length=1)
    room: str | None = None
    valid_from: date
    valid_to: date


class TimetableLessonChangedPayload(TimetableLessonFacts):
    kind: Literal["timetable_lesson_changed"] = "timetable_lesson_changed"


class TimetableLessonRemovedPayload(TimetableLessonFacts):
    """The lesson as it was when the journal took it out of the timetable."""

    kind: Literal["timetable_lesson_removed"] = "timetable_lesson_removed"


class LessonChangeFacts(ClassFacts):
    """One lesson on one day that differs from the timetable, and why (shown to families)."""

    change_id: str = Field(min_length=1, description="The journal's own id of the change.")
    change: LessonChangeKind
    lesson_date: date
    lesson_number: int = Field(ge=0, le=12)
    subject_id: str = Id
    subject_name: str = Field(min_length=1)
    teacher_name: str | None = Field(None, min_length=1, description="Who was to teach it.")
    substitute_teacher_name: str | None = Field(None, min_length=1)
    new_date: date | None = None
    new_lesson_number: int | None = Field(None, ge=0, le=12)
    room: str | None = None
    new_room: str | None = None
    reason: str = Field(min_length=1, examples=["болезнь учителя"])
    announce: bool = Announce


class LessonChangePostedPayload(LessonChangeFacts):
    kind: Literal["lesson_change_posted"] = "lesson_change_posted"


class LessonChangeCorrectedPayload(LessonChangeFacts):
    """The change as it is now; `previous_*` say what families were told before."""

    kind: Literal["lesson_change_corrected"] = "lesson_change_corrected"
    previous_change: LessonChangeKind
    previous_lesson_date: date


class LessonChangeRetractedPayload(LessonChangeFacts):
    """The change as it was when the journal took it back: the lesson is as timetabled."""

    kind: Literal["lesson_change_retracted"] = "lesson_change_retracted"
    retraction_reason: str | None = None


class NonSchoolDays(_Part):
    name: str = Field(min_length=1, examples=["Осенние каникулы"])
    days_kind: NonSchoolDaysKind
    starts_on: date
    ends_on: date
    education_levels: tuple[EducationLevel, ...] = Field((), description="Empty: every level.")
    class_ids: tuple[str, ...] = Field(
        (), description="Empty: every class (of those levels); e.g. first graders' holidays."
    )


class SchoolCalendarChangedPayload(SchoolPayload):
    """A school year's calendar: when it runs, its holidays and other non-school days."""

    kind: Literal["school_calendar_changed"] = "school_calendar_changed"
    school_year: str = Field(pattern=r"^\d{4}/\d{4}$", examples=["2026/2027"])
    starts_on: date
    ends_on: date
    weeks_alternate_from: date | None = Field(
        None, description="The Monday of an A week, where the school has A and B weeks."
    )
    non_school_days: tuple[NonSchoolDays, ...] = ()


# The documentation's examples (see `Envelope.example_payload`).
CLASS_5A: dict[str, Any] = {
    "school_id": "school-1",
    "class_id": "5a",
    "class_name": "5А",
    "education_level": "basic",
}
TIMETABLE_LESSON: dict[str, Any] = {
    **CLASS_5A,
    "group_id": "5a-en-1",
    "group_name": "Английский, группа 1",
    "lesson_id": "tt-5a-en1-tue-2",
    "weekday": 2,
    "lesson_number": 2,
    "subject_id": "en",
    "subject_name": "Английский язык",
    "teacher_id": "t-2",
    "teacher_name": "Белова Ирина Олеговна",
    "room": "305",
    "valid_from": "2026-09-01",
    "valid_to": "2026-12-28",
}
SUBSTITUTION: dict[str, Any] = {
    **CLASS_5A,
    "group_id": "5a-en-1",
    "group_name": "Английский, группа 1",
    "change_id": "ch-1",
    "change": "substitution",
    "lesson_date": "2026-12-01",
    "lesson_number": 2,
    "subject_id": "en",
    "subject_name": "Английский язык",
    "teacher_name": "Белова Ирина Олеговна",
    "substitute_teacher_name": "Грин Джон",
    "reason": "болезнь учителя",
}


class GroupChanged(Envelope[GroupChangedPayload]):
    topic: ClassVar[str] = "journal.enrolment.v1"
    type: Literal["GroupChanged"] = "GroupChanged"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **CLASS_5A,
        "group_id": "5a-en-1",
        "group_name": "Английский, группа 1",
        "record_version": 1,
        "group_kind": "subject_split",
        "subject_id": "en",
        "subject_name": "Английский язык",
        "student_ids": ["st-1", "st-4"],
        "teacher_ids": ["t-2"],
    }


class IndividualCurriculumChanged(Envelope[IndividualCurriculumChangedPayload]):
    topic: ClassVar[str] = "journal.enrolment.v1"
    type: Literal["IndividualCurriculumChanged"] = "IndividualCurriculumChanged"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        "school_id": "school-1",
        "student_id": "st-5",
        "class_id": "5a",
        "school_year": "2026/2027",
        "education_level": "basic",
        "valid_from": "2026-09-01",
        "valid_to": "2027-05-31",
        "subjects": [
            {
                "subject_id": "math",
                "subject_name": "Математика",
                "teacher_id": "t-1",
                "teacher_name": "Петрова Анна Сергеевна",
                "hours_per_week": 2,
            },
            {"subject_id": "en", "subject_name": "Английский язык", "group_id": "5a-en-2"},
        ],
    }


class BellScheduleChanged(Envelope[BellScheduleChangedPayload]):
    topic: ClassVar[str] = "journal.timetable.v1"
    type: Literal["BellScheduleChanged"] = "BellScheduleChanged"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        "school_id": "school-1",
        "bell_schedule_id": "main",
        "name": "Основное расписание звонков",
        "bells": [
            {"lesson_number": 1, "starts_at": "08:30", "ends_at": "09:15"},
            {"lesson_number": 2, "starts_at": "09:25", "ends_at": "10:10"},
        ],
    }


class TimetableLessonChanged(Envelope[TimetableLessonChangedPayload]):
    topic: ClassVar[str] = "journal.timetable.v1"
    type: Literal["TimetableLessonChanged"] = "TimetableLessonChanged"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**TIMETABLE_LESSON, "record_version": 1}


class TimetableLessonRemoved(Envelope[TimetableLessonRemovedPayload]):
    topic: ClassVar[str] = "journal.timetable.v1"
    type: Literal["TimetableLessonRemoved"] = "TimetableLessonRemoved"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**TIMETABLE_LESSON, "record_version": 2}


class LessonChangePosted(Envelope[LessonChangePostedPayload]):
    topic: ClassVar[str] = "journal.lesson-changes.v1"
    type: Literal["LessonChangePosted"] = "LessonChangePosted"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {**SUBSTITUTION, "record_version": 1}


class LessonChangeCorrected(Envelope[LessonChangeCorrectedPayload]):
    topic: ClassVar[str] = "journal.lesson-changes.v1"
    type: Literal["LessonChangeCorrected"] = "LessonChangeCorrected"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **SUBSTITUTION,
        "record_version": 2,
        "lesson_number": 3,
        "previous_change": "substitution",
        "previous_lesson_date": "2026-12-01",
    }


class LessonChangeRetracted(Envelope[LessonChangeRetractedPayload]):
    topic: ClassVar[str] = "journal.lesson-changes.v1"
    type: Literal["LessonChangeRetracted"] = "LessonChangeRetracted"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        **SUBSTITUTION,
        "record_version": 3,
        "retraction_reason": "учитель выздоровел",
    }


class SchoolCalendarChanged(Envelope[SchoolCalendarChangedPayload]):
    topic: ClassVar[str] = "journal.calendar.v1"
    type: Literal["SchoolCalendarChanged"] = "SchoolCalendarChanged"
    version: Literal[1] = 1
    example_payload: ClassVar[dict[str, Any] | None] = {
        "school_id": "school-1",
        "school_year": "2026/2027",
        "starts_on": "2026-09-01",
        "ends_on": "2027-05-26",
        "non_school_days": [
            {
                "name": "Зимние каникулы",
                "days_kind": "holidays",
                "starts_on": "2026-12-29",
                "ends_on": "2027-01-11",
            },
            {
                "name": "Дополнительные каникулы для первоклассников",
                "days_kind": "holidays",
                "starts_on": "2027-02-08",
                "ends_on": "2027-02-14",
                "class_ids": ["1a", "1b"],
            },
        ],
    }


EnrolmentEvent = Annotated[GroupChanged | IndividualCurriculumChanged, Field(discriminator="type")]
TimetableEvent = Annotated[
    BellScheduleChanged | TimetableLessonChanged | TimetableLessonRemoved,
    Field(discriminator="type"),
]
LessonChangeEvent = Annotated[
    LessonChangePosted | LessonChangeCorrected | LessonChangeRetracted,
    Field(discriminator="type"),
]
