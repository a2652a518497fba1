"""Which students a class's fact concerns: the one rule every consumer of clause 4's events
applies, so the notice a family gets and the week they read never disagree.

A fact about a whole class concerns its students, except those on an individual curriculum
(ИУП) in force that day without the fact's subject. A fact about one group concerns the group's
students and those whose individual curriculum places them in that group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Curriculum:
    """A student's individual curriculum, as far as membership goes."""

    valid_from: date
    valid_to: date
    subject_ids: frozenset[str] = frozenset()
    group_ids: frozenset[str] = frozenset()

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on <= self.valid_to


@dataclass(frozen=True)
class ClassRoster:
    """One class: its students, its groups' students, and its students' curricula."""

    student_ids: frozenset[str] = frozenset()
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    curricula: Mapping[str, Curriculum] = field(default_factory=dict)


def concerned_students(
    roster: ClassRoster, *, group_id: str | None, subject_id: str | None, on: date
) -> list[str]:
    """The students of `roster` a fact about `group_id` (None: the whole class) and
    `subject_id` on day `on` concerns, sorted."""
    if group_id is not None:
        members: Iterable[str] = roster.groups.get(group_id, frozenset()) | {
            student_id
            for student_id, plan in roster.curricula.items()
            if plan.in_force(on) and group_id in plan.group_ids
        }
        return sorted(set(members))
    return sorted(
        student_id
        for student_id in roster.student_ids
        if _learns(roster.curricula.get(student_id), subject_id, on)
    )


def _learns(plan: Curriculum | None, subject_id: str | None, on: date) -> bool:
    if plan is None or subject_id is None or not plan.in_force(on):
        return True
    return subject_id in plan.subject_ids
