"""Lessons held against the curriculum (issue 15, clause 7), pure: per subject of a class (per
group where the class is split) for a period, the lessons planned and held, by lesson type and
by teacher, and the required assessments planned and held.

A lesson is one hour. What is due by a day is the period's plan pro rata to the school days
(Monday to Friday, less the calendar's non-school days) gone by, rounded down; once the period
is over, all of it. A subject is behind its plan when fewer lessons were held than were due.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from schemas.curriculum import LessonHeldFacts
from services.digest.curriculum import PlannedForPeriod
from services.digest.domain import Period


@dataclass(frozen=True)
class SubjectLessons:
    subject_id: str
    subject_name: str
    group_id: str | None  # the group of a split class, None for the whole class
    group_name: str | None
    planned: int | None  # hours the plan gives the period; None: not in the plan
    due: int | None  # of those, due by the report's day
    held: int
    by_type: Mapping[str, int]  # lesson type → lessons held
    by_teacher: Mapping[str, int]  # teacher's name → lessons held
    assessments: Mapping[str, tuple[int, int]]  # lesson type → (required, held)

    @property
    def difference(self) -> int | None:
        """Hours held less hours planned (negative: short of the plan)."""
        return None if self.planned is None else self.held - self.planned

    @property
    def behind(self) -> bool:
        return self.due is not None and self.held < self.due


def lesson_stats(
    planned: Sequence[PlannedForPeriod],
    lessons: Iterable[LessonHeldFacts],
    period: Period,
    *,
    as_of: date,
    day_off: Callable[[date], bool] = lambda day: False,
) -> list[SubjectLessons]:
    """One row per subject and group taught in the period: the plan's subjects in its order
    (with no lesson held yet, a row for the whole class), then subjects held outside the plan."""
    held: dict[tuple[str, str | None], list[LessonHeldFacts]] = {}
    for lesson in lessons:
        if period.starts_on <= lesson.lesson_date <= period.ends_on:
            held.setdefault((lesson.subject_id, lesson.group_id), []).append(lesson)
    share = _share_gone_by(period, as_of, day_off)
    rows = []
    for plan in planned:
        subject_id = plan.subject.subject_id
        keys = sorted((k for k in held if k[0] == subject_id), key=lambda k: k[1] or "")
        for key in keys or [(subject_id, None)]:
            rows.append(_row(plan.subject.subject_name, key, held.pop(key, []), plan, share))
    for key in sorted(held, key=lambda k: (held[k][0].subject_name, k[1] or "")):
        rows.append(_row(held[key][0].subject_name, key, held[key], None, share))
    return rows


def _row(
    subject_name: str,
    key: tuple[str, str | None],
    lessons: Sequence[LessonHeldFacts],
    plan: PlannedForPeriod | None,
    share: float,
) -> SubjectLessons:
    by_type: Counter[str] = Counter(str(lesson.lesson_type) for lesson in lessons)
    planned = plan.hours if plan else None
    required = plan.assessments if plan else Counter()
    return SubjectLessons(
        subject_id=key[0],
        subject_name=subject_name,
        group_id=key[1],
        group_name=next((lesson.group_name for lesson in lessons if lesson.group_name), None),
        planned=planned,
        due=None if planned is None else int(planned * share + 1e-9),
        held=len(lessons),
        by_type=dict(by_type.most_common()),
        by_teacher=dict(Counter(lesson.teacher_name for lesson in lessons).most_common()),
        assessments={kind: (count, by_type[kind]) for kind, count in sorted(required.items())},
    )


def _share_gone_by(period: Period, as_of: date, day_off: Callable[[date], bool]) -> float:
    """The share of the period's school days up to and including `as_of`."""
    if as_of >= period.ends_on:
        return 1.0
    days = [
        period.starts_on + timedelta(n) for n in range((period.ends_on - period.starts_on).days + 1)
    ]
    school_days = [day for day in days if day.isoweekday() <= 5 and not day_off(day)]
    if not school_days:
        return 1.0
    return sum(1 for day in school_days if day <= as_of) / len(school_days)
