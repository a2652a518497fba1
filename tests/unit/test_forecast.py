"""The forecast of the period's final mark: weights, thresholds, «мало оценок», changes, trend."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

import pytest

from services.digest.forecast import (
    ForecastRules,
    Mark,
    MarkChange,
    SubjectForecast,
    apply,
    current_marks,
    forecast,
    weighted_mean,
)

ChangeKind = Literal["posted", "corrected", "retracted"]
PERIOD_START = date(2026, 11, 5)
AS_OF = date(2026, 11, 27)
WEEK_AGO = AS_OF - timedelta(days=7)
_ids = itertools.count(1)


def a_mark(
    value: str,
    *,
    on: date = date(2026, 11, 10),
    work_type: str = "ответ на уроке",
    weight: float = 1.0,
    subject: str = "math",
    name: str = "Математика",
    mark_id: str | None = None,
) -> Mark:
    return Mark(
        mark_id=mark_id or f"m-{next(_ids)}",
        subject_id=subject,
        subject_name=name,
        lesson_date=on,
        value=value,
        work_type=work_type,
        weight=weight,
    )


def marks_of(*values: str, on: date = date(2026, 11, 10)) -> list[Mark]:
    return [a_mark(value, on=on) for value in values]


def only(marks: Iterable[Mark], rules: ForecastRules | None = None) -> SubjectForecast:
    [result] = forecast(marks, rules or ForecastRules(), period_start=PERIOD_START, as_of=AS_OF)
    return result


# Weights


def test_the_journals_own_weight_counts_when_the_school_sets_none() -> None:
    marks = [a_mark("5", weight=2.0), a_mark("2", weight=1.0)]
    assert only(marks).mean == pytest.approx(4.0)


def test_the_schools_weight_by_work_type_overrides_the_journals() -> None:
    marks = [
        a_mark("5", work_type="контрольная работа", weight=1.0),
        a_mark("3", work_type="ответ на уроке", weight=1.0),
    ]
    rules = ForecastRules(work_type_weights={"контрольная работа": 3.0})
    assert only(marks, rules).mean == pytest.approx((5 * 3 + 3) / 4)
    assert only(marks).mean == pytest.approx(4.0)


def test_work_types_match_regardless_of_case_and_spaces() -> None:
    rules = ForecastRules(work_type_weights={" Контрольная  работа": 3.0})
    assert rules.weight_of(a_mark("5", work_type="контрольная работа")) == 3.0


def test_weighted_mean_of_no_numeric_marks_is_none() -> None:
    assert weighted_mean([a_mark("зачёт")], ForecastRules()) is None
    assert weighted_mean([], ForecastRules()) is None


# Thresholds per school


def test_the_same_marks_give_a_five_at_one_school_and_a_four_at_another() -> None:
    marks = marks_of("5", "5", "5", "5", "5", "5", "4", "4", "4", "4")  # mean 4.6
    assert only(marks).mean == pytest.approx(4.6)
    assert only(marks, ForecastRules(five_from=4.5)).projected == 5
    assert only(marks, ForecastRules(five_from=4.65)).projected == 4


@pytest.mark.parametrize(
    ("mean", "projected"),
    [(5.0, 5), (4.5, 5), (4.49, 4), (3.5, 4), (3.4999, 3), (2.5, 3), (2.49, 2), (1.0, 2)],
)
def test_thresholds_are_inclusive_lower_bounds(mean: float, projected: int) -> None:
    assert ForecastRules().project(mean) == projected


def test_floating_error_does_not_cost_a_mark() -> None:
    # 0.1-weights sum to 0.30000000000000004; the mean lands a hair below 4.5.
    marks = [a_mark("5", weight=0.1), a_mark("4", weight=0.1), a_mark("5", weight=0.1)]
    marks += [a_mark("4", weight=0.1)]
    assert only(marks).mean == pytest.approx(4.5)
    assert only(marks).projected == 5
    # …but a real 4.496 stays below the threshold: nothing is rounded up to 4.50.
    assert ForecastRules().project(4.496) == 4


@pytest.mark.parametrize(
    ("five", "four", "three"),
    [
        (3.5, 4.5, 2.5),  # not descending
        (4.5, 4.5, 2.5),  # equal
        (5.5, 3.5, 2.5),  # above 5
        (4.5, 3.5, 0.5),  # below 1
    ],
)
def test_invalid_thresholds_are_rejected(five: float, four: float, three: float) -> None:
    with pytest.raises(ValueError, match=r"thresholds must descend within 1\.\.5"):
        ForecastRules(five_from=five, four_from=four, three_from=three)


def test_invalid_weights_and_minimum_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ForecastRules(work_type_weights={"контрольная работа": 0.0})
    with pytest.raises(ValueError, match="listed twice"):
        ForecastRules(work_type_weights={"Тест": 1.0, "тест": 2.0})
    with pytest.raises(ValueError, match="min_marks"):
        ForecastRules(min_marks=0)


def test_rules_do_not_change_when_the_callers_dict_does() -> None:
    weights = {"тест": 2.0}
    rules = ForecastRules(work_type_weights=weights)
    weights["тест"] = 9.0
    assert rules.weight_of(a_mark("5", work_type="тест")) == 2.0


# «Мало оценок»


@pytest.mark.parametrize(("count", "too_few"), [(1, True), (2, True), (3, False), (4, False)])
def test_too_few_marks_below_the_schools_minimum(count: int, too_few: bool) -> None:
    result = only(marks_of(*["5"] * count), ForecastRules(min_marks=3))
    assert (result.mark_count, result.too_few) == (count, too_few)
    assert result.mean == pytest.approx(5.0)  # the mean is still told
    assert result.projected == (None if too_few else 5)


def test_the_minimum_is_a_school_setting() -> None:
    assert only(marks_of("4", "4"), ForecastRules(min_marks=2)).projected == 4
    assert only(marks_of("4", "4"), ForecastRules(min_marks=5)).too_few


def test_pass_fail_and_exempt_marks_neither_count_nor_weigh() -> None:
    marks = marks_of("5", "3", "зачёт", "незачёт", "осв.")
    result = only(marks)
    assert (result.mark_count, result.too_few, result.projected) == (2, True, None)
    assert result.mean == pytest.approx(4.0)


def test_a_subject_with_only_pass_fail_marks_has_no_forecast() -> None:
    marks = [a_mark("зачёт", subject="pe", name="Физкультура"), *marks_of("5", "5", "5")]
    assert [
        f.subject_id
        for f in forecast(marks, ForecastRules(), period_start=PERIOD_START, as_of=AS_OF)
    ] == ["math"]


# Corrections and retractions


def test_a_correction_replaces_the_mark() -> None:
    posted = a_mark("2", mark_id="m-x")
    corrected = a_mark("5", mark_id="m-x")
    others = [MarkChange("posted", m) for m in marks_of("5", "5")]
    marks = current_marks(
        [MarkChange("posted", posted), *others, MarkChange("corrected", corrected)]
    )
    result = only(marks.values())
    assert (result.mark_count, result.projected) == (3, 5)
    assert result.mean == pytest.approx(5.0)


def test_a_retraction_removes_the_mark() -> None:
    kept = marks_of("4", "4", "4")
    retracted = a_mark("2", mark_id="m-x")
    changes = [MarkChange("posted", m) for m in [*kept, retracted]]
    marks = current_marks([*changes, MarkChange("retracted", retracted)])
    assert set(marks) == {m.mark_id for m in kept}
    assert only(marks.values()).mean == pytest.approx(4.0)


@pytest.mark.parametrize("kind", ["posted", "corrected", "retracted"])
def test_a_redelivered_change_is_counted_once(kind: ChangeKind) -> None:
    start = {m.mark_id: m for m in marks_of("3", "4")}
    change = MarkChange("posted", a_mark("5", mark_id="m-x"))
    if kind != "posted":
        start = apply(start, change)
        change = MarkChange(kind, a_mark("2", mark_id="m-x"))
    once = apply(start, change)
    assert apply(once, change) == once


def test_apply_leaves_its_input_untouched() -> None:
    start = {"m-x": a_mark("3", mark_id="m-x")}
    apply(start, MarkChange("retracted", start["m-x"]))
    assert set(start) == {"m-x"}


def test_retracting_an_unknown_mark_changes_nothing() -> None:
    start = {m.mark_id: m for m in marks_of("3")}
    assert apply(start, MarkChange("retracted", a_mark("5"))) == start


# The period


def test_marks_outside_the_period_are_ignored() -> None:
    marks = [
        a_mark("2", on=PERIOD_START - timedelta(days=1)),
        a_mark("2", on=AS_OF + timedelta(days=1)),
        a_mark("5", on=PERIOD_START),
        a_mark("5", on=AS_OF),
        a_mark("5"),
    ]
    result = only(marks)
    assert result.mark_count == 3
    assert result.mean == pytest.approx(5.0)


def test_as_of_before_the_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="before period_start"):
        forecast([], ForecastRules(), period_start=AS_OF, as_of=PERIOD_START)


def test_subjects_come_sorted_by_name_with_the_latest_name() -> None:
    marks = [
        a_mark("5", subject="rus", name="Русский язык"),
        a_mark("4", subject="alg", name="Алгебра", on=date(2026, 11, 6)),
        a_mark("4", subject="alg", name="Алгебра и начала анализа", on=date(2026, 11, 20)),
    ]
    result = forecast(marks, ForecastRules(), period_start=PERIOD_START, as_of=AS_OF)
    assert [f.subject_name for f in result] == ["Алгебра и начала анализа", "Русский язык"]


# Trend against last week


@pytest.mark.parametrize(
    ("this_week", "trend"),
    [
        (["5"], "up"),  # 4.0 → 4.25
        (["3"], "down"),  # 4.0 → 3.75
        (["4"], "steady"),  # 4.0 → 4.0
        ([], "steady"),  # nothing new
    ],
)
def test_trend_compares_with_the_mean_a_week_ago(this_week: list[str], trend: str) -> None:
    marks = marks_of("4", "5", "3", on=WEEK_AGO) + marks_of(*this_week, on=AS_OF)
    assert only(marks).trend == trend


def test_a_change_below_the_step_is_steady_and_the_step_itself_is_not() -> None:
    base = [a_mark("4", weight=19.0, on=WEEK_AGO)]
    # 4 → (4·19 + 5)/20 = 4.05: exactly the step, despite floating error.
    assert only([*base, a_mark("5", on=AS_OF)]).trend == "up"
    # 4 → (4·19 + 5·0.9)/19.9 ≈ 4.045: below the step.
    assert only([*base, a_mark("5", weight=0.9, on=AS_OF)]).trend == "steady"


def test_trend_is_new_when_there_was_no_mean_last_week() -> None:
    marks = [a_mark("зачёт", on=WEEK_AGO), *marks_of("5", on=WEEK_AGO + timedelta(days=1))]
    assert only(marks).trend == "new"


def test_trend_is_new_early_in_the_period() -> None:
    result = forecast(
        marks_of("5", on=PERIOD_START),
        ForecastRules(),
        period_start=PERIOD_START,
        as_of=PERIOD_START + timedelta(days=3),
    )
    assert result[0].trend == "new"
