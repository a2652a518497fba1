"""The forecast of a period's final mark, which the regulation says parents hear regularly.

Pure domain code: standard library only, so the digest, grades and cabinet features can all
reuse it without pulling in an event contract or infrastructure. The caller maps journal
events to `MarkChange`s and passes one student's marks at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Literal

# Only these marks have a number to average; «зачёт», «незачёт» and «осв.» do not.
NUMERIC_VALUES = frozenset({"1", "2", "3", "4", "5"})
# A mean that moved less than this since last week is «steady», not a trend worth telling.
TREND_STEP = 0.05
# Weighted means are floats: 4.5 may arrive as 4.499999999. Comparisons forgive this much,
# and only this much, so a real 4.496 is still below a 4.5 threshold.
_TOLERANCE = 1e-9

Trend = Literal["up", "down", "steady", "new"]


@dataclass(frozen=True)
class Mark:
    """A mark as the journal currently holds it."""

    mark_id: str
    subject_id: str
    subject_name: str
    lesson_date: date
    value: str
    work_type: str
    weight: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"mark {self.mark_id}: weight must be positive, got {self.weight}")


@dataclass(frozen=True)
class MarkChange:
    """One journal event: a mark posted, corrected (now `mark`) or retracted (was `mark`)."""

    kind: Literal["posted", "corrected", "retracted"]
    mark: Mark


def apply(marks: Mapping[str, Mark], change: MarkChange) -> dict[str, Mark]:
    """The marks after `change`, keyed by mark_id; `marks` itself is left untouched.

    Posting and correcting both put the mark in its slot and retracting empties it, so a
    redelivered event changes nothing the second time and a mark is never counted twice.
    Events of one student arrive in order, so a late duplicate cannot undo a newer change.
    """
    result = dict(marks)
    if change.kind == "retracted":
        result.pop(change.mark.mark_id, None)
    else:
        result[change.mark.mark_id] = change.mark
    return result


def current_marks(changes: Iterable[MarkChange]) -> dict[str, Mark]:
    """Fold a history of changes, oldest first, into the marks that stand now."""
    marks: dict[str, Mark] = {}
    for change in changes:
        marks = apply(marks, change)
    return marks


def _work_type_key(work_type: str) -> str:
    # Schools type their settings by hand: «Контрольная работа » must match the journal's.
    return " ".join(work_type.split()).casefold()


@dataclass(frozen=True)
class ForecastRules:
    """One school's setting: weights by type of work, rounding thresholds, minimum marks.

    A type of work missing from `work_type_weights` keeps the weight the journal sent.
    `five_from` etc. are the lowest means that still give that mark (some schools want 4.65
    for a «5»). Below `min_marks` numeric marks the forecast says «мало оценок» instead.
    """

    work_type_weights: Mapping[str, float] = field(default_factory=dict)
    five_from: float = 4.5
    four_from: float = 3.5
    three_from: float = 2.5
    min_marks: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.three_from < self.four_from < self.five_from <= 5:
            raise ValueError(
                "thresholds must descend within 1..5 (five_from > four_from > three_from), got "
                f"five_from={self.five_from}, four_from={self.four_from}, "
                f"three_from={self.three_from}"
            )
        if self.min_marks < 1:
            raise ValueError(f"min_marks must be at least 1, got {self.min_marks}")
        weights: dict[str, float] = {}
        for work_type, weight in self.work_type_weights.items():
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"weight of «{work_type}» must be positive, got {weight}")
            key = _work_type_key(work_type)
            if weights.get(key, weight) != weight:
                raise ValueError(f"«{work_type}» is listed twice with different weights")
            weights[key] = weight
        # Frozen means frozen: the caller's dict may change later, the rules may not.
        object.__setattr__(self, "work_type_weights", MappingProxyType(weights))

    def weight_of(self, mark: Mark) -> float:
        return self.work_type_weights.get(_work_type_key(mark.work_type), mark.weight)

    def project(self, mean: float) -> int:
        """The final mark a mean gives under this school's thresholds."""
        for mark, threshold in ((5, self.five_from), (4, self.four_from), (3, self.three_from)):
            if mean >= threshold - _TOLERANCE:
                return mark
        return 2


@dataclass(frozen=True)
class SubjectForecast:
    """Where one subject stands. `mean` is unrounded: display rounding is the template's.

    When `too_few`, the mean is still shown but no final mark is projected from it.
    """

    subject_id: str
    subject_name: str
    mark_count: int
    mean: float
    projected: int | None
    too_few: bool
    trend: Trend


def weighted_mean(marks: Iterable[Mark], rules: ForecastRules) -> float | None:
    """The weighted mean of the numeric marks, or None when there are none."""
    numeric = [mark for mark in marks if mark.value in NUMERIC_VALUES]
    return _numeric_mean(numeric, rules) if numeric else None


def _numeric_mean(marks: list[Mark], rules: ForecastRules) -> float:
    weights = [rules.weight_of(mark) for mark in marks]
    return sum(int(m.value) * w for m, w in zip(marks, weights, strict=True)) / sum(weights)


def _trend(now: float, week_ago: float | None) -> Trend:
    if week_ago is None:
        return "new"
    if now - week_ago >= TREND_STEP - _TOLERANCE:
        return "up"
    if week_ago - now >= TREND_STEP - _TOLERANCE:
        return "down"
    return "steady"


def forecast(
    marks: Iterable[Mark], rules: ForecastRules, *, period_start: date, as_of: date
) -> list[SubjectForecast]:
    """One student's forecast for every subject with a numeric mark in the period so far.

    Counts marks from `period_start` to `as_of` inclusive; the trend compares that mean with
    the one as of seven days earlier. A subject marked only «зачёт»/«осв.» has no final mark
    to forecast, so it is left out rather than reported as «мало оценок» forever.
    """
    if as_of < period_start:
        raise ValueError(f"as_of {as_of} is before period_start {period_start}")
    week_ago = as_of - timedelta(days=7)
    by_subject: dict[str, list[Mark]] = {}
    for mark in marks:
        if period_start <= mark.lesson_date <= as_of and mark.value in NUMERIC_VALUES:
            by_subject.setdefault(mark.subject_id, []).append(mark)

    result: list[SubjectForecast] = []
    for subject_id, subject_marks in by_subject.items():
        mean = _numeric_mean(subject_marks, rules)
        before = weighted_mean((m for m in subject_marks if m.lesson_date <= week_ago), rules)
        too_few = len(subject_marks) < rules.min_marks
        latest = max(subject_marks, key=lambda m: m.lesson_date)  # a renamed subject
        result.append(
            SubjectForecast(
                subject_id=subject_id,
                subject_name=latest.subject_name,
                mark_count=len(subject_marks),
                mean=mean,
                projected=None if too_few else rules.project(mean),
                too_few=too_few,
                trend=_trend(mean, before),
            )
        )
    return sorted(result, key=lambda f: (f.subject_name, f.subject_id))
