"""What a class is to learn in a period (issue 15, clause 7), pure: the curriculum (учебный план)
that applies to the class, what it plans for the period, and a student's individual curriculum.

A class follows the plan of its school year that names it, else its programme level's plan
that names no classes. A plan's subject is taught in a period when it plans hours for a period
lying inside it (a quarter inside the year: the year's hours are the sum of its quarters'), or
when it lists no periods at all (taught all year, hours unplanned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.curriculum import PlannedSubject, StudyPlanChangedPayload
from schemas.timetable import IndividualCurriculumChangedPayload
from services.digest.domain import Period


def plan_of_class(
    plans: Iterable[StudyPlanChangedPayload],
    *,
    class_id: str,
    education_level: str | None,
    school_year: str,
) -> StudyPlanChangedPayload | None:
    of_year = sorted((p for p in plans if p.school_year == school_year), key=lambda p: p.plan_id)
    named = [p for p in of_year if class_id in p.class_ids]
    if named:
        return named[0]
    return next(
        (p for p in of_year if not p.class_ids and p.education_level == education_level), None
    )


@dataclass(frozen=True)
class PlannedForPeriod:
    """A subject of the plan as taught in one period."""

    subject: PlannedSubject
    hours: int | None  # None: the plan gives no hours for the period
    assessments: Counter[str] = field(default_factory=Counter)  # lesson type → required

    @property
    def pass_fail(self) -> bool:
        return self.subject.grading == "pass_fail"


def planned_for(
    plan: StudyPlanChangedPayload | None, period: Period, periods: Sequence[Period]
) -> list[PlannedForPeriod]:
    """The plan's subjects taught in `period`, in the plan's order."""
    if plan is None:
        return []
    inside = {p.period_id for p in periods if _within(p, period)} | {period.period_id}
    taught = []
    for subject in plan.subjects:
        if not subject.periods:
            taught.append(PlannedForPeriod(subject, None))
            continue
        parts = [p for p in subject.periods if p.period_id in inside]
        if parts:
            assessments: Counter[str] = Counter()
            for part in parts:
                assessments.update(part.assessments)
            taught.append(PlannedForPeriod(subject, sum(p.hours for p in parts), assessments))
    return taught


def individual_subjects(
    curricula: Iterable[IndividualCurriculumChangedPayload], student_id: str, period: Period
) -> frozenset[str] | None:
    """The subjects of the student's individual curriculum (ИУП) in force during the period;
    None without one: the class's plan is theirs."""
    subjects: set[str] = set()
    found = False
    for curriculum in curricula:
        if curriculum.student_id != student_id:
            continue
        if curriculum.valid_from <= period.ends_on and curriculum.valid_to >= period.starts_on:
            found = True
            subjects.update(s.subject_id for s in curriculum.subjects)
    return frozenset(subjects) if found else None


def _within(inner: Period, outer: Period) -> bool:
    return outer.starts_on <= inner.starts_on and inner.ends_on <= outer.ends_on
