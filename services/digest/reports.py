"""The school's reports on final marks (issue 15, clauses 7 and 8), pure: the summary sheet of a
class for a period, and its results statistics. No I/O: the caller hands over what the journal
sent of the class (`ClassRecords`): its students' books, the curricula, the lessons held.

The statistics, per subject (or over all subjects, per student), of the N students who have a
final value:
- success rate (успеваемость): the share with no unsatisfactory value (2, 1, н/а, незачёт);
- quality (качество знаний): the share with only 4 and 5 (pass/fail subjects do not count);
- the average of the numeric marks (н/а and pass/fail values are not numbers);
- the degree of learning (СОУ, Симонов): (n5·100 + n4·64 + n3·36 + n2·16 + n1,н/а·7) / N, %.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from schemas.curriculum import LessonHeldFacts, StudyPlanChangedPayload
from schemas.timetable import IndividualCurriculumChangedPayload
from services.digest.curriculum import (
    PlannedForPeriod,
    individual_subjects,
    plan_of_class,
    planned_for,
)
from services.digest.domain import Period, StudentBook

UNSATISFACTORY = frozenset({"1", "2", "н/а", "незачёт"})
PASSED = frozenset({"зачёт", "осв."})
NUMERIC = ("5", "4", "3", "2", "1")
# The degree of learning's weight of each value, in %.
LEARNING_WEIGHTS = {"5": 100, "4": 64, "3": 36, "2": 16, "1": 7, "н/а": 7}
# How the sheet prints a value (pass/fail values in the sheet's short forms).
SHEET_TEXT = {"зачёт": "зач.", "незачёт": "незач."}


@dataclass(frozen=True)
class Subject:
    subject_id: str
    name: str
    pass_fail: bool = False  # the curriculum grades it «зачёт»/«незачёт» (or «осв.»)
    teachers: tuple[str, ...] = ()  # who held its lessons in the period, the most first


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str
    # Subjects their curriculum grades this period; None: all of the class's (no ИУП).
    subject_ids: frozenset[str] | None = None

    def takes(self, subject_id: str) -> bool:
        return self.subject_ids is None or subject_id in self.subject_ids


@dataclass(frozen=True)
class ResultsStats:
    students: int  # N: those with a final value
    counts: Mapping[str, int]  # each value, as the journal sent it
    success_rate: float | None  # %, None when N is 0
    quality: float | None  # %, None for a pass/fail subject or N of 0
    average: float | None  # of the numeric marks, None without one
    learning_degree: float | None  # СОУ, %, None for a pass/fail subject or N of 0


def subject_stats(values: Iterable[str], *, pass_fail: bool = False) -> ResultsStats:
    """The statistics of one subject: one final value per student."""
    counts = Counter(values)
    n = sum(counts.values())
    if n == 0:
        return ResultsStats(0, {}, None, None, None, None)
    failed = sum(counts[value] for value in UNSATISFACTORY)
    numeric = [int(value) for value in NUMERIC for _ in range(counts[value])]
    graded = not pass_fail
    return ResultsStats(
        students=n,
        counts=dict(sorted(counts.items())),
        success_rate=_percent(n - failed, n),
        quality=_percent(counts["5"] + counts["4"], n) if graded else None,
        average=round(sum(numeric) / len(numeric), 2) if numeric and graded else None,
        learning_degree=(
            round(sum(LEARNING_WEIGHTS.get(v, 0) * c for v, c in counts.items()) / n, 1)
            if graded
            else None
        ),
    )


def class_stats(
    finals: Mapping[str, Mapping[str, str]], subjects: Sequence[Subject]
) -> ResultsStats:
    """Over all subjects, per student (`finals`: student → subject → value): a student succeeds
    with no unsatisfactory value anywhere, and is of quality if they also have only 4 and 5 in
    the graded subjects; the average and СОУ are over every graded value."""
    graded = {s.subject_id for s in subjects if not s.pass_fail}
    students = {student: values for student, values in finals.items() if values}
    n = len(students)
    if n == 0:
        return ResultsStats(0, {}, None, None, None, None)
    succeeded = sum(1 for values in students.values() if not UNSATISFACTORY & set(values.values()))
    of_quality = sum(
        1
        for values in students.values()
        if not UNSATISFACTORY & set(values.values())
        and (marks := [v for s, v in values.items() if s in graded])
        and all(v in ("4", "5") for v in marks)
    )
    every = [v for values in students.values() for s, v in values.items() if s in graded]
    all_values = Counter(v for values in students.values() for v in values.values())
    overall = subject_stats(every)
    return ResultsStats(
        students=n,
        counts=dict(sorted(all_values.items())),
        success_rate=_percent(succeeded, n),
        quality=_percent(of_quality, n),
        average=overall.average,
        learning_degree=overall.learning_degree,
    )


@dataclass(frozen=True)
class Cell:
    text: str  # what the sheet prints
    missing: bool = False  # expected and neither given nor deferred: flagged


@dataclass(frozen=True)
class SummarySheet:
    """Students × subjects of a class for a period (сводная ведомость)."""

    subjects: Sequence[Subject]
    rows: Sequence[tuple[Student, Sequence[Cell]]]
    missing: Sequence[tuple[Student, Subject]] = field(default_factory=tuple)


def summary_sheet(
    students: Sequence[Student],
    subjects: Sequence[Subject],
    finals: Mapping[tuple[str, str], str],
    deferrals: Mapping[tuple[str, str], date],
) -> SummarySheet:
    """Each cell: the final value; «отсрочка до DD.MM» while deferred (the value, once posted,
    replaces it); «—» for a subject outside the student's curriculum; empty and flagged when
    expected and missing. `finals` and `deferrals` are keyed (student, subject)."""
    rows: list[tuple[Student, Sequence[Cell]]] = []
    missing: list[tuple[Student, Subject]] = []
    for student in sorted(students, key=lambda s: (s.name, s.student_id)):
        cells = []
        for subject in subjects:
            key = (student.student_id, subject.subject_id)
            if key in finals:
                cells.append(Cell(SHEET_TEXT.get(finals[key], finals[key])))
            elif not student.takes(subject.subject_id):
                cells.append(Cell("—"))
            elif key in deferrals:
                cells.append(Cell(f"отсрочка до {deferrals[key].strftime('%d.%m')}"))
            else:
                cells.append(Cell("", missing=True))
                missing.append((student, subject))
        rows.append((student, cells))
    return SummarySheet(subjects, rows, missing)


@dataclass(frozen=True)
class ClassRecords:
    """What the journal sent about a class that its reports read."""

    books: Sequence[StudentBook]
    periods: Sequence[Period] = ()  # all the school's: a year's plan is its quarters'
    plans: Sequence[StudyPlanChangedPayload] = ()  # the school's curricula
    curricula: Sequence[IndividualCurriculumChangedPayload] = ()  # the class's ИУП
    lessons: Sequence[LessonHeldFacts] = ()  # the class's lessons held
    # A teacher's view: only the subjects they teach; None: all of them.
    subject_ids: frozenset[str] | None = None

    @property
    def class_id(self) -> str:
        return next((book.class_id for book in self.books), "")

    @property
    def class_name(self) -> str:
        return next((book.class_name for book in self.books if book.class_name), "")

    def planned(self, period: Period) -> list[PlannedForPeriod]:
        level = next((b.education_level for b in self.books if b.education_level), None)
        plan = plan_of_class(
            self.plans,
            class_id=self.class_id,
            education_level=level,
            school_year=period.school_year,
        )
        planned = planned_for(plan, period, self.periods)
        return [p for p in planned if self.shows(p.subject.subject_id)]

    def shows(self, subject_id: str) -> bool:
        return self.subject_ids is None or subject_id in self.subject_ids


@dataclass(frozen=True)
class ClassReport:
    class_name: str
    period: Period
    sheet: SummarySheet
    by_subject: Mapping[str, ResultsStats]  # subject id → its statistics
    overall: ResultsStats
    planned: bool = False  # the subjects and their grading come from the curriculum


def class_report(records: ClassRecords, period: Period) -> ClassReport:
    """A class's summary sheet and statistics for `period`. The subjects are the curriculum's
    taught in the period, then any other with a final mark in it; without a curriculum, those
    the class had marks or final marks in (a subject whose every final is «зачёт»/«незачёт» is
    then pass/fail). Each subject names the teachers who held its lessons in the period."""
    finals: dict[tuple[str, str], str] = {}
    deferrals: dict[tuple[str, str], date] = {}
    names: dict[str, str] = {}
    for book in records.books:
        for mark in book.marks:
            if period.starts_on <= mark.lesson_date <= period.ends_on and mark.subject_id:
                names.setdefault(mark.subject_id, mark.subject_name)
        for final in book.final_marks:
            if final.period_id != period.period_id or not final.subject_id:
                continue
            names[final.subject_id] = final.subject_name
            key = (book.student_id, final.subject_id)
            if final.value is not None:
                finals[key] = final.value
            elif final.deferred_until is not None:
                deferrals[key] = final.deferred_until
    planned = records.planned(period)
    teachers = _teachers(records.lessons, period)
    if planned:
        in_plan = {p.subject.subject_id for p in planned}
        with_finals = {s for (_, s) in (*finals, *deferrals)} - in_plan
        subjects = [
            Subject(p.subject.subject_id, p.subject.subject_name, p.pass_fail) for p in planned
        ] + _subjects_by_name({s: names[s] for s in with_finals}, finals)
    else:
        subjects = _subjects_by_name(names, finals)
    subjects = [
        Subject(s.subject_id, s.name, s.pass_fail, teachers.get(s.subject_id, ()))
        for s in subjects
        if records.shows(s.subject_id)
    ]
    students = [
        Student(
            book.student_id,
            book.name,
            individual_subjects(records.curricula, book.student_id, period),
        )
        for book in records.books
    ]
    by_subject = {
        subject.subject_id: subject_stats(
            (v for (_, s), v in finals.items() if s == subject.subject_id),
            pass_fail=subject.pass_fail,
        )
        for subject in subjects
    }
    per_student: dict[str, dict[str, str]] = {book.student_id: {} for book in records.books}
    for (student_id, subject_id), value in finals.items():
        per_student[student_id][subject_id] = value
    return ClassReport(
        class_name=records.class_name,
        period=period,
        sheet=summary_sheet(students, subjects, finals, deferrals),
        by_subject=by_subject,
        overall=class_stats(per_student, subjects),
        planned=bool(planned),
    )


def _subjects_by_name(
    names: Mapping[str, str], finals: Mapping[tuple[str, str], str]
) -> list[Subject]:
    return [
        Subject(subject_id, name, pass_fail=_pass_fail(subject_id, finals))
        for subject_id, name in sorted(names.items(), key=lambda item: (item[1], item[0]))
    ]


def _teachers(lessons: Iterable[LessonHeldFacts], period: Period) -> dict[str, tuple[str, ...]]:
    """Subject → the teachers who held its lessons in the period, the most lessons first."""
    counts: dict[str, Counter[str]] = {}
    for lesson in lessons:
        if period.starts_on <= lesson.lesson_date <= period.ends_on:
            counts.setdefault(lesson.subject_id, Counter())[lesson.teacher_name] += 1
    return {s: tuple(name for name, _ in c.most_common()) for s, c in counts.items()}


def _pass_fail(subject_id: str, finals: Mapping[tuple[str, str], str]) -> bool:
    values = {v for (_, s), v in finals.items() if s == subject_id}
    return bool(values) and values <= {"зачёт", "незачёт"}


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1)
