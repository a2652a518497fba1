"""A student's school week (clause 4): the timetable of their class and groups with the day's
lesson changes applied, homework, tests and non-school days; the class's teachers; the
calendar; and the weekly digest's sections built from the same facts.

Pure, and shared like `schemas.membership`: the digest (its week API and weekly e-mail) and the
personal account (what a family sees) read a week with these same rules, so the two never
disagree. The caller hands over the journal's live facts (removed lessons, retracted changes
and homework, cancelled tests are not among them) and `schemas.membership.concerned_students`
decides, as for every consumer, which students a class's or group's fact concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.classwork import AssessmentFacts, AssessmentKind, HomeworkFacts
from schemas.digest import (
    WeekHolidays,
    WeekHomework,
    WeekLessonChange,
    WeekTeacher,
    WeekTest,
)
from schemas.journal import EducationLevel
from schemas.membership import ClassRoster, Curriculum, concerned_students
from schemas.timetable import (
    BellScheduleChangedPayload,
    ClassFacts,
    GroupChangedPayload,
    IndividualCurriculumChangedPayload,
    LessonChangeFacts,
    LessonChangeKind,
    NonSchoolDays,
    NonSchoolDaysKind,
    SchoolCalendarChangedPayload,
    TimetableLessonFacts,
    WeekParity,
)

KIND_LABELS: dict[AssessmentKind, str] = {
    "test": "контрольная работа",
    "check": "проверочная работа",
    "national_check": "ВПР",
    "other": "работа",
}
NEXT_HOLIDAYS = 2  # how many coming spells of non-school days the digest names


@dataclass(frozen=True)
class Pupil:
    """The student the week is for, as the read model knows them."""

    student_id: str
    name: str
    class_id: str
    class_name: str
    education_level: EducationLevel | None = None


@dataclass(frozen=True)
class Teacher:
    teacher_id: str
    name: str
    assignments: frozenset[tuple[str, str]] = frozenset()  # (class_id, subject_id)


@dataclass(frozen=True)
class SchoolFacts:
    """What concerns the whole school: its calendars, bell schedules and teachers."""

    calendars: Sequence[SchoolCalendarChangedPayload] = ()
    bells: Sequence[BellScheduleChangedPayload] = ()
    teachers: Sequence[Teacher] = ()


@dataclass(frozen=True)
class ClassBook:
    """The live facts of one class: its students, groups, curricula, timetable, lesson
    changes, tests and homework."""

    class_id: str
    student_ids: frozenset[str] = frozenset()
    groups: Sequence[GroupChangedPayload] = ()
    curricula: Sequence[IndividualCurriculumChangedPayload] = ()
    lessons: Sequence[TimetableLessonFacts] = ()
    changes: Sequence[LessonChangeFacts] = ()
    assessments: Sequence[AssessmentFacts] = ()
    homework: Sequence[HomeworkFacts] = ()
    _rosters: dict[date, ClassRoster] = field(default_factory=dict, compare=False)

    def roster(self, on: date) -> ClassRoster:
        """The class as membership sees it on `on`, with each student's curriculum in force
        then (or their latest, which is not)."""
        if on not in self._rosters:
            plans: dict[str, IndividualCurriculumChangedPayload] = {}
            for plan in sorted(
                self.curricula, key=lambda c: (c.valid_from <= on <= c.valid_to, c.valid_to)
            ):
                plans[plan.student_id] = plan  # the last wins
            self._rosters[on] = ClassRoster(
                self.student_ids,
                {g.group_id: frozenset(g.student_ids) for g in self.groups if g.group_id},
                {
                    student_id: Curriculum(
                        plan.valid_from,
                        plan.valid_to,
                        frozenset(s.subject_id for s in plan.subjects),
                        frozenset(s.group_id for s in plan.subjects if s.group_id),
                    )
                    for student_id, plan in plans.items()
                },
            )
        return self._rosters[on]

    def concerns(self, fact: ClassFacts, student_id: str, subject_id: str | None, on: date) -> bool:
        return student_id in concerned_students(
            self.roster(on), group_id=fact.group_id, subject_id=subject_id, on=on
        )

    def curriculum_of(self, student_id: str, on: date) -> IndividualCurriculumChangedPayload | None:
        plans = [c for c in self.curricula if c.student_id == student_id]
        in_force = [c for c in plans if c.valid_from <= on <= c.valid_to]
        latest = in_force or sorted(plans, key=lambda c: c.valid_to)
        return latest[-1] if latest else None


# The read APIs' answers.


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ChangeOut(_Out):
    change_id: str
    change: LessonChangeKind
    what: str = Field(examples=["замена: ведёт Сидорова М. И."])
    reason: str


LessonStatus = Literal["planned", "substituted", "cancelled", "moved_out", "moved_in", "extra"]


class LessonOut(_Out):
    lesson_number: int
    starts_at: time | None = None
    ends_at: time | None = None
    subject_id: str
    subject_name: str
    teacher_name: str | None = None
    room: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    week: WeekParity = "every"
    status: LessonStatus = "planned"
    change: ChangeOut | None = None


class HomeworkOut(_Out):
    homework_id: str
    subject_name: str
    teacher_name: str
    lesson_date: date
    due_on: date
    text: str
    attachments: tuple[str, ...] = ()


class TestOut(_Out):
    assessment_id: str
    assessment_date: date
    lesson_number: int | None = None
    subject_name: str
    assessment_kind: AssessmentKind
    kind_label: str
    title: str | None = None


class NonSchoolDayOut(_Out):
    name: str
    days_kind: NonSchoolDaysKind


class DayOut(_Out):
    day: date
    weekday: int = Field(ge=1, le=7, description="ISO: 1 is Monday.")
    non_school: NonSchoolDayOut | None = None
    lessons: tuple[LessonOut, ...] = ()
    homework_set: tuple[HomeworkOut, ...] = ()
    homework_due: tuple[HomeworkOut, ...] = ()
    tests: tuple[TestOut, ...] = ()


class StudentWeekOut(_Out):
    school_id: str
    student_id: str
    student_name: str
    class_id: str
    class_name: str
    week: str = Field(examples=["2026-W49"])
    week_parity: Literal["A", "B"] | None = Field(
        None,
        description="Where the school alternates A and B weeks; null: it does not, or "
        "its calendar is not known (then A and B lessons are both listed).",
    )
    days: tuple[DayOut, ...]


class ClassTeacherOut(_Out):
    subject_id: str
    subject_name: str
    teacher_names: tuple[str, ...]
    group_id: str | None = None
    group_name: str | None = None


class NonSchoolDaysOut(_Out):
    name: str
    days_kind: NonSchoolDaysKind
    starts_on: date
    ends_on: date
    education_levels: tuple[EducationLevel, ...] = ()
    class_ids: tuple[str, ...] = ()


class SchoolYearOut(_Out):
    school_id: str
    school_year: str = Field(examples=["2026/2027"])
    starts_on: date
    ends_on: date
    weeks_alternate_from: date | None = None
    non_school_days: tuple[NonSchoolDaysOut, ...] = ()


# The rules.


def calendar_on(
    calendars: Iterable[SchoolCalendarChangedPayload], day: date
) -> SchoolCalendarChangedPayload | None:
    return next((c for c in calendars if c.starts_on <= day <= c.ends_on), None)


def week_parity(
    calendars: Iterable[SchoolCalendarChangedPayload], monday: date
) -> Literal["A", "B"] | None:
    """A or B for the week of `monday`, counted from the school year's first A week."""
    calendar = calendar_on(calendars, monday) or calendar_on(calendars, monday + timedelta(4))
    if calendar is None or calendar.weeks_alternate_from is None:
        return None
    start = calendar.weeks_alternate_from - timedelta(calendar.weeks_alternate_from.weekday())
    return "A" if (monday - start).days // 7 % 2 == 0 else "B"


def applies_to(days: NonSchoolDays, pupil: Pupil, level: EducationLevel | None) -> bool:
    """Whether a spell of non-school days is the student's: every level or theirs, every
    class or theirs (first graders' extra holidays)."""
    if days.education_levels and level not in days.education_levels:
        return False
    return not days.class_ids or pupil.class_id in days.class_ids


def non_school_day(
    calendars: Iterable[SchoolCalendarChangedPayload],
    pupil: Pupil,
    level: EducationLevel | None,
    day: date,
) -> NonSchoolDays | None:
    calendar = calendar_on(calendars, day)
    spells = calendar.non_school_days if calendar else ()
    return next(
        (d for d in spells if d.starts_on <= day <= d.ends_on and applies_to(d, pupil, level)),
        None,
    )


def next_holidays(
    calendars: Iterable[SchoolCalendarChangedPayload],
    pupil: Pupil,
    level: EducationLevel | None,
    since: date,
    count: int = NEXT_HOLIDAYS,
) -> list[NonSchoolDays]:
    """The next `count` spells of non-school days starting after `since`, the student's own."""
    spells = {
        (d.starts_on, d.name): d
        for calendar in calendars
        for d in calendar.non_school_days
        if d.starts_on > since and applies_to(d, pupil, level)
    }
    return [spells[key] for key in sorted(spells)][:count]


def level_of(pupil: Pupil, book: ClassBook, on: date) -> EducationLevel | None:
    """The student's programme level: their ИУП's, else their own."""
    plan = book.curriculum_of(pupil.student_id, on)
    if plan is not None and plan.valid_from <= on <= plan.valid_to:
        return plan.education_level
    return pupil.education_level


def bell_times(
    bells: Iterable[BellScheduleChangedPayload],
    pupil: Pupil,
    level: EducationLevel | None,
) -> dict[int, tuple[time, time]]:
    """The student's bells: a schedule for their class before one for their level before the
    school's general one."""

    def rank(schedule: BellScheduleChangedPayload) -> int | None:
        if schedule.class_ids:
            return 0 if pupil.class_id in schedule.class_ids else None
        if schedule.education_levels:
            return 1 if level in schedule.education_levels else None
        return 2

    ranked = sorted(
        ((r, s.bell_schedule_id, s) for s in bells if (r := rank(s)) is not None),
        key=lambda item: (item[0], item[1]),
    )
    if not ranked:
        return {}
    return {b.lesson_number: (b.starts_at, b.ends_at) for b in ranked[0][2].bells}


def short_date(day: date) -> str:
    return day.strftime("%d.%m")


def what_changed(change: LessonChangeFacts) -> str:
    """The change as families read it."""
    match change.change:
        case "substitution":
            who = change.substitute_teacher_name
            return f"замена: ведёт {who}" if who else "замена учителя"
        case "cancellation":
            return "урок отменён"
        case "extra":
            return "дополнительный урок"
        case _:
            parts = []
            if change.new_date and change.new_date != change.lesson_date:
                parts.append(short_date(change.new_date))
            if change.new_lesson_number is not None:
                parts.append(f"{change.new_lesson_number}-й урок")
            if change.new_room:
                parts.append(f"кабинет {change.new_room}")
            return "перенос" + (": " + ", ".join(parts) if parts else "")


def _change_out(change: LessonChangeFacts) -> ChangeOut:
    return ChangeOut(
        change_id=change.change_id,
        change=change.change,
        what=what_changed(change),
        reason=change.reason,
    )


def _homework_out(homework: HomeworkFacts) -> HomeworkOut:
    return HomeworkOut(
        homework_id=homework.homework_id,
        subject_name=homework.subject_name,
        teacher_name=homework.teacher_name,
        lesson_date=homework.lesson_date,
        due_on=homework.due_on,
        text=homework.text,
        attachments=tuple(a.url for a in homework.attachments),
    )


def test_out(test: AssessmentFacts) -> TestOut:
    return TestOut(
        assessment_id=test.assessment_id,
        assessment_date=test.assessment_date,
        lesson_number=test.lesson_number,
        subject_name=test.subject_name,
        assessment_kind=test.assessment_kind,
        kind_label=KIND_LABELS[test.assessment_kind],
        title=test.title,
    )


def _moved_to(change: LessonChangeFacts) -> tuple[date, int]:
    return (
        change.new_date or change.lesson_date,
        change.lesson_number if change.new_lesson_number is None else change.new_lesson_number,
    )


def day_lessons(
    pupil: Pupil,
    book: ClassBook,
    day: date,
    *,
    parity: Literal["A", "B"] | None,
    bells: dict[int, tuple[time, time]],
    school_day: bool,
) -> list[LessonOut]:
    """The student's lessons on `day`: the timetable (none on a non-school day), then the
    lesson changes of the day applied, and lessons moved here from another day or slot."""
    timetable = [
        lesson
        for lesson in book.lessons
        if school_day
        and lesson.weekday == day.isoweekday()
        and lesson.valid_from <= day <= lesson.valid_to
        and (lesson.week == "every" or parity is None or lesson.week == parity)
        and book.concerns(lesson, pupil.student_id, lesson.subject_id, day)
    ]
    changes = [
        c
        for c in book.changes
        if (c.lesson_date == day or (c.change == "move" and _moved_to(c)[0] == day))
        and book.concerns(c, pupil.student_id, c.subject_id, c.lesson_date)
    ]

    def timed(lesson: LessonOut) -> LessonOut:
        times = bells.get(lesson.lesson_number)
        if times is None:
            return lesson
        return lesson.model_copy(update={"starts_at": times[0], "ends_at": times[1]})

    planned = {
        (lesson.lesson_number, lesson.subject_id, lesson.group_id): LessonOut(
            lesson_number=lesson.lesson_number,
            subject_id=lesson.subject_id,
            subject_name=lesson.subject_name,
            teacher_name=lesson.teacher_name,
            room=lesson.room,
            group_id=lesson.group_id,
            group_name=lesson.group_name,
            week=lesson.week,
        )
        for lesson in timetable
    }
    extra: list[LessonOut] = []
    for change in sorted(changes, key=lambda c: c.change_id):
        key = (change.lesson_number, change.subject_id, change.group_id)
        base = planned.get(key) or LessonOut(
            lesson_number=change.lesson_number,
            subject_id=change.subject_id,
            subject_name=change.subject_name,
            teacher_name=change.teacher_name,
            room=change.room,
            group_id=change.group_id,
            group_name=change.group_name,
        )
        told = _change_out(change)
        if change.change == "extra":
            extra.append(base.model_copy(update={"status": "extra", "change": told}))
            continue
        if change.change == "move":
            to_day, to_number = _moved_to(change)
            moved_in = base.model_copy(
                update={
                    "lesson_number": to_number,
                    "room": change.new_room or base.room,
                    "status": "moved_in",
                    "change": told,
                }
            )
            if (to_day, to_number) == (change.lesson_date, change.lesson_number):
                planned[key] = moved_in.model_copy(update={"status": "planned"})  # a new room
                continue
            if to_day == day:
                extra.append(moved_in)
            if change.lesson_date == day:
                planned[key] = base.model_copy(update={"status": "moved_out", "change": told})
            continue
        if change.lesson_date != day:
            continue
        if change.change == "substitution":
            teacher = change.substitute_teacher_name or base.teacher_name
            planned[key] = base.model_copy(
                update={
                    "teacher_name": teacher,
                    "room": change.new_room or base.room,
                    "status": "substituted",
                    "change": told,
                }
            )
        else:
            planned[key] = base.model_copy(update={"status": "cancelled", "change": told})
    lessons = [timed(lesson) for lesson in (*planned.values(), *extra)]
    return sorted(lessons, key=lambda lesson: (lesson.lesson_number, lesson.subject_name))


def student_week(
    school_id: str,
    pupil: Pupil,
    book: ClassBook,
    school: SchoolFacts,
    week: str,
    monday: date,
) -> StudentWeekOut:
    """The student's week, Monday to Sunday."""
    parity = week_parity(school.calendars, monday)
    level = level_of(pupil, book, monday)
    bells = bell_times(school.bells, pupil, level)
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        off = non_school_day(school.calendars, pupil, level, day)
        homework = [
            h
            for h in book.homework
            if day in (h.lesson_date, h.due_on)
            and book.concerns(h, pupil.student_id, h.subject_id, h.lesson_date)
        ]
        days.append(
            DayOut(
                day=day,
                weekday=day.isoweekday(),
                non_school=NonSchoolDayOut(name=off.name, days_kind=off.days_kind) if off else None,
                lessons=tuple(
                    day_lessons(
                        pupil, book, day, parity=parity, bells=bells, school_day=off is None
                    )
                ),
                homework_set=tuple(
                    _homework_out(h) for h in _by_subject(homework) if h.lesson_date == day
                ),
                homework_due=tuple(
                    _homework_out(h) for h in _by_subject(homework) if h.due_on == day
                ),
                tests=tuple(
                    test_out(t)
                    for t in sorted(
                        book.assessments, key=lambda t: (t.lesson_number or 0, t.subject_name)
                    )
                    if t.assessment_date == day
                    and book.concerns(t, pupil.student_id, t.subject_id, day)
                ),
            )
        )
    return StudentWeekOut(
        school_id=school_id,
        student_id=pupil.student_id,
        student_name=pupil.name,
        class_id=pupil.class_id,
        class_name=pupil.class_name,
        week=week,
        week_parity=parity,
        days=tuple(days),
    )


def _by_subject(homework: Iterable[HomeworkFacts]) -> list[HomeworkFacts]:
    return sorted(homework, key=lambda h: (h.subject_name, h.homework_id))


def subject_names(book: ClassBook) -> dict[str, str]:
    """The names the journal gave the class's subjects, wherever it named them."""
    names: dict[str, str] = {}
    named: list[TimetableLessonFacts | AssessmentFacts | HomeworkFacts | LessonChangeFacts] = [
        *book.lessons,
        *book.assessments,
        *book.homework,
        *book.changes,
    ]
    for fact in named:
        names.setdefault(fact.subject_id, fact.subject_name)
    for group in book.groups:
        if group.subject_id and group.subject_name:
            names.setdefault(group.subject_id, group.subject_name)
    for plan in book.curricula:
        for subject in plan.subjects:
            names.setdefault(subject.subject_id, subject.subject_name)
    return names


def class_teachers(book: ClassBook, school: SchoolFacts) -> list[ClassTeacherOut]:
    """The class's teachers by subject (TeacherChanged's assignments), then each group's."""
    names = subject_names(book)
    by_id = {t.teacher_id: t.name for t in school.teachers}
    subjects: dict[str, list[str]] = {}
    for teacher in school.teachers:
        for class_id, subject_id in teacher.assignments:
            if class_id == book.class_id:
                subjects.setdefault(subject_id, []).append(teacher.name)
    out = [
        ClassTeacherOut(
            subject_id=subject_id,
            subject_name=names.get(subject_id, subject_id),
            teacher_names=tuple(sorted(teachers)),
        )
        for subject_id, teachers in subjects.items()
    ]
    for group in book.groups:
        teachers = tuple(sorted(by_id[t] for t in group.teacher_ids if t in by_id))
        if group.group_id and teachers:
            subject_id = group.subject_id or ""
            out.append(
                ClassTeacherOut(
                    subject_id=subject_id,
                    subject_name=group.subject_name or names.get(subject_id, subject_id),
                    teacher_names=teachers,
                    group_id=group.group_id,
                    group_name=group.group_name,
                )
            )
    return sorted(out, key=lambda t: (t.subject_name, t.group_name or ""))


def student_teachers(
    pupil: Pupil, book: ClassBook, school: SchoolFacts, on: date
) -> list[WeekTeacher]:
    """The student's teachers by subject: the class's, their group's where the subject is
    split, their ИУП's where it names one."""
    chosen: dict[str, WeekTeacher] = {}
    for entry in class_teachers(book, school):
        if entry.group_id is None:
            chosen.setdefault(
                entry.subject_id,
                WeekTeacher(subject_name=entry.subject_name, teacher_names=entry.teacher_names),
            )
        elif book.concerns(_group_fact(book, entry.group_id), pupil.student_id, None, on):
            chosen[entry.subject_id] = WeekTeacher(
                subject_name=entry.subject_name,
                teacher_names=entry.teacher_names,
                group_name=entry.group_name,
            )
    plan = book.curriculum_of(pupil.student_id, on)
    if plan is not None and plan.valid_from <= on <= plan.valid_to:
        learnt = {s.subject_id for s in plan.subjects}
        chosen = {k: v for k, v in chosen.items() if k in learnt}
        for subject in plan.subjects:
            if subject.teacher_name and subject.subject_id not in chosen:
                chosen[subject.subject_id] = WeekTeacher(
                    subject_name=subject.subject_name, teacher_names=(subject.teacher_name,)
                )
    return sorted(chosen.values(), key=lambda t: t.subject_name)


def _group_fact(book: ClassBook, group_id: str) -> GroupChangedPayload:
    return next(g for g in book.groups if g.group_id == group_id)


def digest_sections(
    pupil: Pupil,
    book: ClassBook,
    school: SchoolFacts,
    *,
    monday: date,
    digest_day: date,
) -> dict[str, object]:
    """The weekly digest's clause 4 sections, as `WeeklyDigestPayload` fields: next week's
    tests, homework due from `digest_day` on, this week's lesson changes, the student's
    teachers and the next holidays."""
    sunday, next_monday = monday + timedelta(days=6), monday + timedelta(days=7)
    level = level_of(pupil, book, monday)
    tests = [
        WeekTest(
            assessment_date=t.assessment_date,
            subject_name=t.subject_name,
            assessment_kind=t.assessment_kind,
            kind_label=KIND_LABELS[t.assessment_kind],
            title=t.title,
        )
        for t in sorted(book.assessments, key=lambda t: (t.assessment_date, t.subject_name))
        if next_monday <= t.assessment_date <= next_monday + timedelta(days=6)
        and book.concerns(t, pupil.student_id, t.subject_id, t.assessment_date)
    ]
    homework = [
        WeekHomework(
            subject_name=h.subject_name,
            due_on=h.due_on,
            text=h.text,
            attachments=tuple(a.url for a in h.attachments),
        )
        for h in sorted(book.homework, key=lambda h: (h.due_on, h.subject_name, h.homework_id))
        if h.due_on >= digest_day
        and book.concerns(h, pupil.student_id, h.subject_id, h.lesson_date)
    ]
    changes = [
        WeekLessonChange(
            lesson_date=c.lesson_date,
            lesson_number=c.lesson_number,
            subject_name=c.subject_name,
            change=c.change,
            what=what_changed(c),
            reason=c.reason,
        )
        for c in sorted(book.changes, key=lambda c: (c.lesson_date, c.lesson_number, c.change_id))
        if monday <= c.lesson_date <= sunday
        and book.concerns(c, pupil.student_id, c.subject_id, c.lesson_date)
    ]
    holidays = [
        WeekHolidays(name=d.name, days_kind=d.days_kind, starts_on=d.starts_on, ends_on=d.ends_on)
        for d in next_holidays(school.calendars, pupil, level, digest_day)
    ]
    return {
        "next_week_tests": tuple(tests),
        "homework_due": tuple(homework),
        "lesson_changes": tuple(changes),
        "teachers": tuple(student_teachers(pupil, book, school, monday)),
        "next_holidays": tuple(holidays),
    }


def school_year_out(school_id: str, calendar: SchoolCalendarChangedPayload) -> SchoolYearOut:
    return SchoolYearOut(
        school_id=school_id,
        school_year=calendar.school_year,
        starts_on=calendar.starts_on,
        ends_on=calendar.ends_on,
        weeks_alternate_from=calendar.weeks_alternate_from,
        non_school_days=tuple(
            NonSchoolDaysOut(**d.model_dump())
            for d in sorted(calendar.non_school_days, key=lambda d: (d.starts_on, d.name))
        ),
    )
