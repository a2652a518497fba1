"""What a family sees about a child (issue 14, item 2): pure assembly of the account's read
model into the answers its pages render.

The store hands over the journal's live facts (retracted marks, removed lessons, cancelled
tests are not among them) as the event contracts' models; the school week's rules are
`schemas.schoolweek`'s, shared with the digest, and the forecast is the one the digest
computed for the week (`WeeklyDigestCompiled`), never recomputed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schemas.classwork import AssessmentFacts, RecommendationFacts
from schemas.digest import Forecast, WeeklyDigestPayload, WeekTeacher
from schemas.journal import (
    AbsenceRecordedPayload,
    ExamResultPostedPayload,
    FinalMarkDeferredPayload,
    FinalMarkPostedPayload,
    MarkFacts,
    PeriodChangedPayload,
    StudentChangedPayload,
)
from schemas.notify import Category, NotifiableFacts
from schemas.schoolweek import (
    ClassBook,
    NonSchoolDaysOut,
    Pupil,
    SchoolFacts,
    StudentWeekOut,
    TestOut,
    applies_to,
    level_of,
    next_holidays,
    student_teachers,
    student_week,
    test_out,
)

TESTS_AHEAD_DAYS = 35  # how far ahead the test schedule looks: a month and the week after


def pupil_of(student: StudentChangedPayload) -> Pupil:
    return Pupil(
        student.student_id,
        student.name,
        student.class_id,
        student.class_name,
        student.education_level,
    )


def monday_of(week: str) -> date:
    """Monday of an ISO week such as `2026-W49`; ValueError for a label that is not one."""
    try:
        year, number = week.split("-W")
        return date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValueError(f"{week} is not an ISO week") from None


def week_of(day: date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


# Marks, with the digest's forecast.


@dataclass(frozen=True)
class Period:
    period_id: str
    name: str
    starts_on: date
    ends_on: date

    def holds(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


def periods_of(changes: Iterable[PeriodChangedPayload]) -> list[Period]:
    periods = [Period(p.period_id, p.name, p.starts_on, p.ends_on) for p in changes]
    return sorted(periods, key=lambda p: (p.starts_on, -p.ends_on.toordinal(), p.period_id))


def chosen_period(periods: Sequence[Period], period_id: str | None, today: date) -> Period | None:
    """The period asked for (if it is one); else the shortest one holding `today` (a quarter
    rather than the year); else the last that ended before it."""
    asked = next((p for p in periods if p.period_id == period_id), None)
    if asked is not None:
        return asked
    holding = [p for p in periods if p.holds(today)]
    if holding:
        return min(holding, key=lambda p: (p.ends_on - p.starts_on, p.period_id))
    ended = [p for p in periods if p.ends_on < today]
    return max(ended, key=lambda p: p.ends_on) if ended else None


@dataclass(frozen=True)
class MarkOut:
    mark_id: str
    lesson_date: date
    value: str
    work_type: str
    weight: float
    teacher_name: str
    comment: str | None = None


@dataclass(frozen=True)
class SubjectMarks:
    subject_id: str
    subject_name: str
    marks: tuple[MarkOut, ...] = ()
    forecast: Forecast | None = None


@dataclass(frozen=True)
class MarksView:
    periods: tuple[Period, ...]
    period: Period | None
    subjects: tuple[SubjectMarks, ...] = ()
    forecast_week: str | None = None  # the week the digest computed the averages for


def marks_view(
    marks: Iterable[MarkFacts],
    periods: Sequence[Period],
    digests: Iterable[WeeklyDigestPayload],
    *,
    period_id: str | None,
    today: date,
) -> MarksView:
    """The period's marks by subject, each with the average and forecast the digest last
    computed for that period (none where it has not yet)."""
    period = chosen_period(periods, period_id, today)
    digest = latest_digest(digests, period)
    forecasts = {s.subject_id: s.forecast for s in digest.subjects} if digest else {}
    by_subject: dict[str, list[MarkFacts]] = {}
    names: dict[str, str] = {}
    for mark in marks:
        if period is None or period.holds(mark.lesson_date):
            by_subject.setdefault(mark.subject_id, []).append(mark)
            names[mark.subject_id] = mark.subject_name
    if digest is not None:
        for subject in digest.subjects:
            names.setdefault(subject.subject_id, subject.subject_name)
    subjects = [
        SubjectMarks(
            subject_id,
            name,
            tuple(
                MarkOut(
                    m.mark_id,
                    m.lesson_date,
                    m.value,
                    m.work_type,
                    m.weight,
                    m.teacher_name,
                    m.comment,
                )
                for m in sorted(
                    by_subject.get(subject_id, []), key=lambda m: (m.lesson_date, m.mark_id)
                )
            ),
            forecasts.get(subject_id),
        )
        for subject_id, name in names.items()
    ]
    return MarksView(
        tuple(periods),
        period,
        tuple(sorted(subjects, key=lambda s: (s.subject_name, s.subject_id))),
        digest.week if digest else None,
    )


def latest_digest(
    digests: Iterable[WeeklyDigestPayload], period: Period | None
) -> WeeklyDigestPayload | None:
    """The latest week the digest compiled for `period` (matched by the period's name, which
    is what the digest names)."""
    if period is None:
        return None
    mine = [d for d in digests if d.period_name == period.name]
    return max(mine, key=lambda d: d.week) if mine else None


# Final marks, deferrals and exam results.


@dataclass(frozen=True)
class FinalOut:
    subject_name: str
    period_name: str
    obtained_on: date
    value: str | None = None
    deferred_until: date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ExamOut:
    title: str
    value: str
    obtained_on: date
    result_kind: str
    subject_name: str | None = None


@dataclass(frozen=True)
class ResultsView:
    finals: tuple[FinalOut, ...] = ()
    deferrals: tuple[FinalOut, ...] = ()
    exams: tuple[ExamOut, ...] = ()


def results_view(
    finals: Iterable[FinalMarkPostedPayload | FinalMarkDeferredPayload],
    exams: Iterable[ExamResultPostedPayload],
) -> ResultsView:
    """One result per subject and period: the latest obtained (a mark set after a deferral
    replaces it; on the same moment the mark wins)."""
    latest: dict[tuple[str, str], FinalMarkPostedPayload | FinalMarkDeferredPayload] = {}
    for final in finals:
        key = (final.subject_id, final.period_id)
        held = latest.get(key)
        rank = (final.obtained_at, isinstance(final, FinalMarkPostedPayload))
        if held is None or (held.obtained_at, isinstance(held, FinalMarkPostedPayload)) <= rank:
            latest[key] = final
    out = [
        FinalOut(
            f.subject_name,
            f.period_name,
            f.obtained_at.date(),
            f.value if isinstance(f, FinalMarkPostedPayload) else None,
            f.deferred_until if isinstance(f, FinalMarkDeferredPayload) else None,
            f.reason if isinstance(f, FinalMarkDeferredPayload) else None,
        )
        for f in latest.values()
    ]
    out.sort(key=lambda f: (f.period_name, f.subject_name))
    return ResultsView(
        tuple(f for f in out if f.deferred_until is None),
        tuple(f for f in out if f.deferred_until is not None),
        tuple(
            ExamOut(e.title, e.value, e.obtained_at.date(), e.result_kind, e.subject_name)
            for e in sorted(exams, key=lambda e: (e.obtained_at, e.result_id), reverse=True)
        ),
    )


# Absences.


@dataclass(frozen=True)
class AbsenceOut:
    lesson_date: date
    subject_name: str
    code: str
    code_label: str
    lesson_number: int | None = None


@dataclass(frozen=True)
class AbsencesView:
    periods: tuple[Period, ...]
    period: Period | None
    absences: tuple[AbsenceOut, ...] = ()
    by_reason: tuple[tuple[str, int], ...] = ()  # (code label, lessons missed), most first


def absences_view(
    absences: Iterable[AbsenceRecordedPayload],
    periods: Sequence[Period],
    *,
    period_id: str | None,
    today: date,
) -> AbsencesView:
    period = chosen_period(periods, period_id, today)
    chosen = sorted(
        (a for a in absences if period is None or period.holds(a.lesson_date)),
        key=lambda a: (a.lesson_date, a.lesson_number or 0, a.absence_id),
        reverse=True,
    )
    counts: dict[str, int] = {}
    for absence in chosen:
        counts[absence.code_label] = counts.get(absence.code_label, 0) + 1
    return AbsencesView(
        tuple(periods),
        period,
        tuple(
            AbsenceOut(a.lesson_date, a.subject_name, a.code, a.code_label, a.lesson_number)
            for a in chosen
        ),
        tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
    )


# The week, the tests ahead, the teachers, the holidays.


def week_view(
    school_id: str,
    pupil: Pupil,
    book: ClassBook,
    school: SchoolFacts,
    week: str,
) -> StudentWeekOut:
    """The student's week: lessons with substitutions, moves and cancellations marked,
    homework set and due, tests (the digest's rules)."""
    return student_week(school_id, pupil, book, school, week, monday_of(week))


def upcoming_tests(
    pupil: Pupil, book: ClassBook, today: date, days: int = TESTS_AHEAD_DAYS
) -> list[TestOut]:
    """The student's tests from `today` on, for `days` days, by date."""
    last = today + timedelta(days=days)
    return [
        test_out(t)
        for t in sorted(
            book.assessments,
            key=lambda t: (t.assessment_date, t.lesson_number or 0, t.subject_name),
        )
        if today <= t.assessment_date <= last and _concerns(book, pupil, t)
    ]


def _concerns(book: ClassBook, pupil: Pupil, test: AssessmentFacts) -> bool:
    return book.concerns(test, pupil.student_id, test.subject_id, test.assessment_date)


def teachers_view(
    pupil: Pupil, book: ClassBook, school: SchoolFacts, today: date
) -> list[WeekTeacher]:
    """The student's teachers by subject: their group's where a subject is split, their
    individual curriculum's where it names one."""
    return student_teachers(pupil, book, school, today)


@dataclass(frozen=True)
class HolidaysView:
    school_year: str | None
    spells: tuple[NonSchoolDaysOut, ...] = ()  # the year's, the student's own, by date
    next: tuple[NonSchoolDaysOut, ...] = ()  # the coming ones


def holidays_view(pupil: Pupil, book: ClassBook, school: SchoolFacts, today: date) -> HolidaysView:
    """The non-school days of the school year under way (or the next), the student's own
    (first graders' extra holidays are theirs alone)."""
    level = level_of(pupil, book, today)
    years = sorted(school.calendars, key=lambda c: c.starts_on)
    year = next((c for c in years if c.ends_on >= today), years[-1] if years else None)
    spells = (
        sorted(
            (d for d in year.non_school_days if applies_to(d, pupil, level)),
            key=lambda d: (d.starts_on, d.name),
        )
        if year
        else []
    )
    coming = next_holidays(school.calendars, pupil, level, today - timedelta(days=1))
    return HolidaysView(
        year.school_year if year else None,
        tuple(NonSchoolDaysOut(**d.model_dump()) for d in spells),
        tuple(NonSchoolDaysOut(**d.model_dump()) for d in coming),
    )


# Teachers' recommendations.


@dataclass(frozen=True)
class RecommendationOut:
    given_on: date
    teacher_name: str
    text: str
    subject_name: str | None = None


def recommendations_view(recommendations: Iterable[RecommendationFacts]) -> list[RecommendationOut]:
    """The newest first."""
    return [
        RecommendationOut(r.given_on, r.teacher_name, r.text, r.subject_name)
        for r in sorted(
            recommendations, key=lambda r: (r.given_on, r.recommendation_id), reverse=True
        )
    ]


# The inbox.


@dataclass(frozen=True)
class InboxItem:
    """A notice the family asked to get in their account's inbox: the fact it tells (a
    template gives it its title and summary), about which children, and whether it was read."""

    item_id: str
    category: Category
    occurred_at: datetime
    fact: NotifiableFacts
    read: bool = False
    student_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboxView:
    items: tuple[InboxItem, ...] = ()
    next_cursor: str | None = None
    unread: int = 0
    opened: InboxItem | None = None
    recipient_known: bool = True


@dataclass(frozen=True)
class ChildSummary:
    """The child page's head: who, in which class and school."""

    student_id: str
    name: str | None = None
    class_name: str | None = None
    school_name: str | None = None
