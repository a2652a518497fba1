"""A school's term as the journal publishes it (clause 4), for the digest's tests: two classes,
5А with English split into two groups and a student on an individual curriculum, 1А with
first graders' extra holidays; bells, a timetable with A/B weeks, lesson changes, tests,
homework, a calendar and the teachers.

The week under test is 2026-W49 (30 November – 6 December 2026, a B week); its Friday is a
non-school day; next week (W50) holds the tests.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from schemas import Envelope, SchoolChanged, StudentChanged, TeacherChanged
from schemas.classwork import (
    AssessmentCancelled,
    AssessmentCancelledPayload,
    AssessmentPlanned,
    AssessmentPlannedPayload,
    HomeworkAssigned,
    HomeworkAssignedPayload,
)
from schemas.consent import ConsentDecidedPayload, ConsentGranted
from schemas.journal import (
    SchoolChangedPayload,
    StudentChangedPayload,
    TeacherChangedPayload,
    TeachingAssignment,
)
from schemas.timetable import (
    Bell,
    BellScheduleChanged,
    BellScheduleChangedPayload,
    CurriculumSubject,
    GroupChanged,
    GroupChangedPayload,
    IndividualCurriculumChanged,
    IndividualCurriculumChangedPayload,
    LessonChangePosted,
    LessonChangePostedPayload,
    NonSchoolDays,
    SchoolCalendarChanged,
    SchoolCalendarChangedPayload,
    TimetableLessonChanged,
    TimetableLessonChangedPayload,
    TimetableLessonRemoved,
    TimetableLessonRemovedPayload,
)

SCHOOL = "school-1"
WEEK = "2026-W49"
MONDAY = date(2026, 11, 30)
FIVE_A = {"school_id": SCHOOL, "class_id": "5a", "class_name": "5А", "education_level": "basic"}
ONE_A = {"school_id": SCHOOL, "class_id": "1a", "class_name": "1А", "education_level": "primary"}
EN_1 = {"group_id": "en-1", "group_name": "Английский, группа 1"}
EN_2 = {"group_id": "en-2", "group_name": "Английский, группа 2"}
TERM = {"valid_from": date(2026, 9, 1), "valid_to": date(2026, 12, 28)}
# student → (class, name)
STUDENTS = {
    "st-1": ("5a", "Иванов Иван"),  # English group 1
    "st-2": ("5a", "Петров Пётр"),  # English group 2
    "st-3": ("5a", "Сидоров Сидор"),  # ИУП: mathematics, Russian, English in group 2; no music
    "st-4": ("1a", "Кузнецова Анна"),
}


def _new(event: type[Envelope[Any]], payload: Any) -> Envelope[Any]:
    return event.new(payload, producer="grades")


def lesson(
    lesson_id: str,
    weekday: int,
    number: int,
    subject: tuple[str, str],
    teacher: tuple[str, str],
    *,
    klass: dict[str, str] = FIVE_A,
    group: dict[str, str] | None = None,
    week: str = "every",
    room: str = "21",
    removed: bool = False,
) -> Envelope[Any]:
    fields: dict[str, Any] = {
        **klass,
        **(group or {}),
        **TERM,
        "lesson_id": lesson_id,
        "weekday": weekday,
        "lesson_number": number,
        "week": week,
        "subject_id": subject[0],
        "subject_name": subject[1],
        "teacher_id": teacher[0],
        "teacher_name": teacher[1],
        "room": room,
        "record_version": 2 if removed else 1,
    }
    if removed:
        return _new(TimetableLessonRemoved, TimetableLessonRemovedPayload(**fields))
    return _new(TimetableLessonChanged, TimetableLessonChangedPayload(**fields))


MATH = ("math", "Математика")
RUS = ("rus", "Русский язык")
EN = ("en", "Английский язык")
MUSIC = ("music", "Музыка")
PETROVA = ("t-1", "Петрова Анна Сергеевна")
SMITH = ("t-2", "Смит Джон")
ORLOVA = ("t-3", "Орлова Ольга Игоревна")
GLINKA = ("t-4", "Глинка Михаил Иванович")


def change(
    change_id: str,
    kind: str,
    day: date,
    number: int,
    subject: tuple[str, str],
    reason: str,
    **more: Any,
) -> Envelope[Any]:
    return _new(
        LessonChangePosted,
        LessonChangePostedPayload(
            **FIVE_A,
            change_id=change_id,
            change=kind,
            lesson_date=day,
            lesson_number=number,
            subject_id=subject[0],
            subject_name=subject[1],
            reason=reason,
            record_version=1,
            **more,
        ),
    )


def test_of(
    assessment_id: str, kind: str, day: date, subject: tuple[str, str], **more: Any
) -> Envelope[Any]:
    return _new(
        AssessmentPlanned,
        AssessmentPlannedPayload(
            **{**FIVE_A, **more},
            assessment_id=assessment_id,
            assessment_kind=kind,
            assessment_date=day,
            subject_id=subject[0],
            subject_name=subject[1],
            record_version=1,
            announce=False,
        ),
    )


def homework(
    homework_id: str, subject: tuple[str, str], set_on: date, due: date, text: str, **more: Any
) -> Envelope[Any]:
    return _new(
        HomeworkAssigned,
        HomeworkAssignedPayload(
            **{**FIVE_A, **more},
            homework_id=homework_id,
            subject_id=subject[0],
            subject_name=subject[1],
            teacher_name="Петрова А. С.",
            lesson_date=set_on,
            due_on=due,
            text=text,
            record_version=1,
        ),
    )


def day(n: int) -> date:
    """The n-th day of the week under test (0: Monday 30 November)."""
    return date.fromordinal(MONDAY.toordinal() + n)


def reference() -> list[Envelope[Any]]:
    """The school, its students and teachers (journal.reference.v1)."""
    events: list[Envelope[Any]] = [
        _new(
            SchoolChanged,
            SchoolChangedPayload(school_id=SCHOOL, name="Школа № 1", timezone="Europe/Moscow"),
        )
    ]
    for student_id, (class_id, name) in STUDENTS.items():
        klass = FIVE_A if class_id == "5a" else ONE_A
        events.append(
            _new(
                StudentChanged,
                StudentChangedPayload(
                    school_id=SCHOOL,
                    student_id=student_id,
                    name=name,
                    class_id=class_id,
                    class_name=klass["class_name"],
                    education_level=klass["education_level"],
                ),
            )
        )
    for (teacher_id, name), assignments in (
        (PETROVA, [("5a", "math"), ("5a", "rus"), ("1a", "math")]),
        (SMITH, [("5a", "en")]),
        (ORLOVA, [("5a", "en")]),
        (GLINKA, [("5a", "music")]),
    ):
        events.append(
            _new(
                TeacherChanged,
                TeacherChangedPayload(
                    school_id=SCHOOL,
                    teacher_id=teacher_id,
                    name=name,
                    assignments=tuple(
                        TeachingAssignment(class_id=c, subject_id=s) for c, s in assignments
                    ),
                ),
            )
        )
    return events


def term() -> list[Envelope[Any]]:
    """Clause 4's facts of the term (no reference, no consent)."""
    bells = [(1, time(8, 30), time(9, 15)), (2, time(9, 25), time(10, 10))]
    bells += [(3, time(10, 30), time(11, 15)), (4, time(11, 35), time(12, 20))]
    bells += [(5, time(12, 30), time(13, 15))]
    return [
        _new(
            GroupChanged,
            GroupChangedPayload(
                **FIVE_A,
                **EN_1,
                group_kind="subject_split",
                subject_id="en",
                subject_name="Английский язык",
                student_ids=("st-1",),
                teacher_ids=("t-2",),
                record_version=1,
            ),
        ),
        _new(
            GroupChanged,
            GroupChangedPayload(
                **FIVE_A,
                **EN_2,
                group_kind="subject_split",
                subject_id="en",
                subject_name="Английский язык",
                student_ids=("st-2",),
                teacher_ids=("t-3",),
                record_version=1,
            ),
        ),
        _new(
            IndividualCurriculumChanged,
            IndividualCurriculumChangedPayload(
                school_id=SCHOOL,
                class_id="5a",
                student_id="st-3",
                school_year="2026/2027",
                education_level="basic",
                valid_from=date(2026, 9, 1),
                valid_to=date(2027, 5, 31),
                subjects=(
                    CurriculumSubject(subject_id="math", subject_name="Математика"),
                    CurriculumSubject(subject_id="rus", subject_name="Русский язык"),
                    CurriculumSubject(
                        subject_id="en",
                        subject_name="Английский язык",
                        group_id="en-2",
                        teacher_name="Орлова Ольга Игоревна",
                    ),
                ),
            ),
        ),
        _new(
            BellScheduleChanged,
            BellScheduleChangedPayload(
                school_id=SCHOOL,
                bell_schedule_id="main",
                name="Основное расписание звонков",
                bells=tuple(Bell(lesson_number=n, starts_at=s, ends_at=e) for n, s, e in bells),
            ),
        ),
        _new(
            BellScheduleChanged,
            BellScheduleChangedPayload(
                school_id=SCHOOL,
                bell_schedule_id="first-graders",
                name="Звонки для первых классов",
                education_levels=("primary",),
                bells=(Bell(lesson_number=1, starts_at=time(8, 0), ends_at=time(8, 35)),),
            ),
        ),
        _new(
            SchoolCalendarChanged,
            SchoolCalendarChangedPayload(
                school_id=SCHOOL,
                school_year="2026/2027",
                starts_on=date(2026, 9, 1),
                ends_on=date(2027, 5, 31),
                weeks_alternate_from=date(2026, 8, 31),  # W49 is a B week
                non_school_days=(
                    NonSchoolDays(
                        name="Методический день",
                        days_kind="other",
                        starts_on=day(4),
                        ends_on=day(4),
                    ),
                    NonSchoolDays(
                        name="Зимние каникулы",
                        days_kind="holidays",
                        starts_on=date(2026, 12, 29),
                        ends_on=date(2027, 1, 11),
                    ),
                    NonSchoolDays(
                        name="Дополнительные каникулы для первоклассников",
                        days_kind="holidays",
                        starts_on=date(2027, 2, 15),
                        ends_on=date(2027, 2, 21),
                        education_levels=("primary",),
                    ),
                    NonSchoolDays(
                        name="Весенние каникулы",
                        days_kind="holidays",
                        starts_on=date(2027, 3, 22),
                        ends_on=date(2027, 3, 28),
                    ),
                ),
            ),
        ),
        # The timetable: Monday math, English in groups, music; Tuesday math on A weeks and
        # Russian on B weeks; Friday math; a lesson taken out of the timetable.
        lesson("l-1", 1, 1, MATH, PETROVA),
        lesson("l-2", 1, 2, EN, SMITH, group=EN_1, room="31"),
        lesson("l-3", 1, 2, EN, ORLOVA, group=EN_2, room="32"),
        lesson("l-4", 1, 3, MUSIC, GLINKA),
        lesson("l-5", 2, 1, MATH, PETROVA, week="A"),
        lesson("l-6", 2, 1, RUS, PETROVA, week="B"),
        lesson("l-7", 5, 1, MATH, PETROVA),
        lesson("l-8", 3, 1, RUS, PETROVA),
        lesson("l-8", 3, 1, RUS, PETROVA, removed=True),
        lesson("l-9", 1, 1, MATH, PETROVA, klass=ONE_A),
        # This week's changes.
        change(
            "ch-1",
            "substitution",
            day(0),
            1,
            MATH,
            "болезнь учителя",
            teacher_name="Петрова А. С.",
            substitute_teacher_name="Сидорова М. И.",
        ),
        change("ch-2", "cancellation", day(0), 2, EN, "учитель на курсах", **EN_1),
        change(
            "ch-3",
            "move",
            day(0),
            3,
            MUSIC,
            "концерт в актовом зале",
            new_date=day(2),
            new_lesson_number=4,
            new_room="актовый зал",
        ),
        change("ch-4", "extra", day(3), 5, MATH, "подготовка к контрольной"),
        # Tests: one this week, next week's (one of them for group 2 only, one cancelled).
        test_of("a-1", "check", day(2), MATH, title="Проверочная работа по теме «Дроби»"),
        test_of("a-2", "test", day(8), MATH, title="Контрольная работа по теме «Дроби»"),
        test_of("a-3", "national_check", day(9), EN, **EN_2),
        test_of("a-4", "test", day(10), MUSIC),
        _new(
            AssessmentCancelled,
            AssessmentCancelledPayload(
                **FIVE_A,
                assessment_id="a-4",
                assessment_kind="test",
                assessment_date=day(10),
                subject_id="music",
                subject_name="Музыка",
                record_version=2,
            ),
        ),
        test_of("a-5", "test", day(11), RUS),
        # Homework: due this week, and due next week (group 1's English, music).
        homework("h-1", MATH, day(0), day(2), "№ 245, 247"),
        homework("h-2", EN, day(0), day(7), "Выучить слова урока 5", **EN_1),
        homework("h-3", MUSIC, day(0), day(7), "Послушать «Времена года»"),
        homework("h-4", MATH, date(2026, 11, 23), date(2026, 11, 25), "Старое задание"),
    ]


def consent_of(guardian_id: str, student_id: str) -> Envelope[Any]:
    """A guardian's consent for a child (consent.changes.v1): the parent's link."""
    return ConsentGranted.new(
        ConsentDecidedPayload(
            school_id=SCHOOL,
            recipient_id=guardian_id,
            consent_id=f"c-{guardian_id}-{student_id}",
            student_id=student_id,
            decision="granted",
            effective_at=datetime(2026, 9, 1, tzinfo=UTC),
        ),
        producer="consent",
    )


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """A PDF's pages as `pdftotext` reads them, whitespace collapsed (lines wrap)."""
    path = tmp_path / "read.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [" ".join(page.split()) for page in text.split("\f") if page.strip()]
