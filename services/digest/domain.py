"""One student's results as the digest tells them: the week's summary, and when it is due.

Pure: the read model hands over a `StudentBook` (everything the journal said about one
student), and these functions compile it into the `WeeklyDigestPayload` that the e-mail, the
paper page and the extract all show.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas.digest import (
    Forecast,
    SubjectWeek,
    WeekAbsence,
    WeekExamResult,
    WeekFinalMark,
    WeeklyDigestPayload,
    WeekMark,
)
from services.digest.forecast import ForecastRules, Mark, forecast


def iso_week(day: date) -> str:
    """The school week a day belongs to, as `2026-W48`."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


# The days the digest works with: four-digit years, with a week to spare before the first and
# after the last (a forecast looks a week back; `date.max` is 9999-12-31).
FIRST_DAY = date(1000, 1, 1)
LAST_DAY = date(9998, 12, 31)


def checked_day(day: date) -> date:
    """`day`, or ValueError when it is outside the years the digest works with."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def week_bounds(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week such as `2026-W48`; ValueError for a label that is not
    one: `2026-W00`, `2026-W54`, `2027-W53` (2026 has 53 ISO weeks, 2027 has 52)."""
    year, number = week.split("-W")
    try:
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ValueError(f"{week} is not an ISO week") from None
    checked_day(monday)
    return monday, monday + timedelta(days=6)


def checked_week(week: str) -> str:
    """`week`, or ValueError when it is not an ISO week the digest works with."""
    week_bounds(week)
    return week


@dataclass(frozen=True)
class Schedule:
    """When the weekly run is due: a weekday (0 = Monday) and a time, in the school's zone."""

    weekday: int = 4
    at: time = time(16, 0)

    def last_due(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The latest scheduled moment at or before `now`."""
        local = now.astimezone(zone)
        days_back = (local.weekday() - self.weekday) % 7
        due = datetime.combine(local.date() - timedelta(days=days_back), self.at, tzinfo=zone)
        return due if due <= local else due - timedelta(days=7)

    def week_due(self, now: datetime, zone: ZoneInfo, registered_at: datetime | None) -> str | None:
        """The week whose run is due at `now`: the week of the latest scheduled moment, unless
        the school was registered after it. A school's first run is at its first scheduled
        time, so a school whose students are still being loaded never gets a partial digest
        of a week that was over before it came. None for a school the journal never
        registered (the digest may have heard of it only from its forecast rules)."""
        if registered_at is None:
            return None
        due = self.last_due(now, zone)
        return iso_week(due.date()) if registered_at <= due else None


@dataclass(frozen=True)
class Period:
    period_id: str
    name: str
    starts_on: date
    ends_on: date
    school_year: str = ""  # 2026/2027: which curriculum applies (issue 15)


def period_on(periods: list[Period], day: date) -> Period | None:
    """The period a day falls in; the shortest if they nest (a quarter inside the year)."""
    containing = [p for p in periods if p.starts_on <= day <= p.ends_on]
    return min(containing, key=lambda p: p.ends_on - p.starts_on, default=None)


@dataclass(frozen=True)
class Absence:
    lesson_date: date
    subject_name: str
    code_label: str
    subject_id: str | None = None


@dataclass(frozen=True)
class FinalMark:
    subject_name: str
    period_name: str
    obtained_on: date
    value: str | None = None
    deferred_until: date | None = None
    subject_id: str | None = None
    period_id: str | None = None


@dataclass(frozen=True)
class ExamResult:
    title: str
    value: str
    obtained_on: date
    subject_id: str | None = None


@dataclass(frozen=True)
class StudentBook:
    """What the journal has said about one student, corrections and retractions applied."""

    school_id: str
    student_id: str
    name: str
    class_id: str
    class_name: str
    marks: list[Mark] = field(default_factory=list)
    comments: dict[str, str] = field(default_factory=dict)  # mark_id → teacher's comment
    absences: list[Absence] = field(default_factory=list)
    final_marks: list[FinalMark] = field(default_factory=list)
    exam_results: list[ExamResult] = field(default_factory=list)
    education_level: str | None = None  # НОО/ООО/СОО as the journal codes it: its holidays


def only_subjects(book: StudentBook, subjects: frozenset[str]) -> StudentBook:
    """The book as a teacher of `subjects` may read it: their subjects' marks, absences, final
    marks and exam results; whatever names no subject (an olympiad in general) is not theirs."""
    marks = [m for m in book.marks if m.subject_id in subjects]
    return replace(
        book,
        marks=marks,
        comments={k: v for k, v in book.comments.items() if k in {m.mark_id for m in marks}},
        absences=[a for a in book.absences if a.subject_id in subjects],
        final_marks=[f for f in book.final_marks if f.subject_id in subjects],
        exam_results=[e for e in book.exam_results if e.subject_id in subjects],
    )


def compile_range(
    book: StudentBook,
    first: date,
    last: date,
    *,
    rules: ForecastRules,
    period: Period | None,
    week: str,
) -> WeeklyDigestPayload:
    """The student's results between `first` and `last` (inclusive), with the forecast for
    `period` as of `last`. A week is the usual range; an extract may be any."""
    forecasts = {
        f.subject_id: f
        for f in (
            forecast(
                book.marks, rules, period_start=period.starts_on, as_of=min(last, period.ends_on)
            )
            if period is not None and period.starts_on <= last
            else []
        )
    }
    in_range = sorted(
        (m for m in book.marks if first <= m.lesson_date <= last),
        key=lambda m: (m.lesson_date, m.mark_id),
    )
    names = {m.subject_id: m.subject_name for m in in_range}
    names.update({subject_id: f.subject_name for subject_id, f in forecasts.items()})
    subjects = []
    for subject_id, subject_name in sorted(names.items(), key=lambda item: item[1]):
        found = forecasts.get(subject_id)
        subjects.append(
            SubjectWeek(
                subject_id=subject_id,
                subject_name=subject_name,
                marks=tuple(
                    WeekMark(
                        lesson_date=m.lesson_date,
                        value=m.value,
                        work_type=m.work_type,
                        comment=book.comments.get(m.mark_id),
                    )
                    for m in in_range
                    if m.subject_id == subject_id
                ),
                forecast=Forecast(
                    mean=round(found.mean, 2),
                    projected=found.projected,
                    mark_count=found.mark_count,
                    too_few=found.too_few,
                    trend=found.trend,
                )
                if found is not None
                else None,
            )
        )
    return WeeklyDigestPayload(
        school_id=book.school_id,
        student_id=book.student_id,
        student_name=book.name,
        class_name=book.class_name,
        week=week,
        week_start=first,
        week_end=last,
        period_name=period.name if period is not None else None,
        subjects=tuple(subjects),
        absences=tuple(
            WeekAbsence(
                lesson_date=a.lesson_date, subject_name=a.subject_name, code_label=a.code_label
            )
            for a in sorted(book.absences, key=lambda a: a.lesson_date)
            if first <= a.lesson_date <= last
        ),
        final_marks=tuple(
            WeekFinalMark(
                subject_name=f.subject_name,
                period_name=f.period_name,
                value=f.value,
                deferred_until=f.deferred_until,
            )
            for f in sorted(book.final_marks, key=lambda f: (f.period_name, f.subject_name))
            if first <= f.obtained_on <= last
        ),
        exam_results=tuple(
            WeekExamResult(title=e.title, value=e.value)
            for e in sorted(book.exam_results, key=lambda e: e.obtained_on)
            if first <= e.obtained_on <= last
        ),
    )


def compile_week(
    book: StudentBook, week: str, *, rules: ForecastRules, periods: list[Period]
) -> WeeklyDigestPayload:
    """The weekly digest: Monday to Sunday of `week`, forecast for the period of its Friday."""
    monday, sunday = week_bounds(week)
    period = period_on(periods, monday + timedelta(days=4)) or period_on(periods, monday)
    return compile_range(book, monday, sunday, rules=rules, period=period, week=week)
