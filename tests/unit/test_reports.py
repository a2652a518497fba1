"""Issue 15's statistics and summary sheet against hand-computed values (clauses 7 and 8)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.digest.domain import FinalMark, Period, StudentBook
from services.digest.paper import create_environment, summary_sheet_pdf
from services.digest.reports import (
    ClassRecords,
    Student,
    Subject,
    class_report,
    class_stats,
    subject_stats,
    summary_sheet,
)
from tests.school_week import pdf_pages


def test_a_subject_s_statistics_by_hand() -> None:
    # 25 students: 6 fives, 9 fours, 7 threes, 2 twos, 1 н/а.
    values = ["5"] * 6 + ["4"] * 9 + ["3"] * 7 + ["2"] * 2 + ["н/а"]
    stats = subject_stats(values)
    assert stats.students == 25
    assert stats.success_rate == 88.0  # 22 of 25 without 2 or н/а
    assert stats.quality == 60.0  # 15 of 25 with 4 or 5
    # (6·5 + 9·4 + 7·3 + 2·2) / 24 numeric marks = 91 / 24
    assert stats.average == 3.79
    # (6·100 + 9·64 + 7·36 + 2·16 + 1·7) / 25 = 1467 / 25
    assert stats.learning_degree == 58.7
    assert stats.counts == {"2": 2, "3": 7, "4": 9, "5": 6, "н/а": 1}


def test_a_class_with_only_n_a_has_no_success_no_quality_and_no_average() -> None:
    stats = subject_stats(["н/а"] * 4)
    assert (stats.success_rate, stats.quality, stats.average) == (0.0, 0.0, None)
    assert stats.learning_degree == 7.0


def test_a_pass_fail_subject_has_a_success_rate_only() -> None:
    stats = subject_stats(["зачёт"] * 9 + ["незачёт"], pass_fail=True)
    assert stats.success_rate == 90.0
    assert (stats.quality, stats.average, stats.learning_degree) == (None, None, None)


def test_nobody_with_a_value_gives_no_figures_rather_than_a_division_by_zero() -> None:
    stats = subject_stats([])
    assert stats.students == 0 and stats.success_rate is None


def test_over_all_subjects_a_student_counts_once() -> None:
    subjects = [Subject("math", "Математика"), Subject("pe", "Физкультура", pass_fail=True)]
    finals = {
        "st-1": {"math": "5", "pe": "зачёт"},  # succeeds, of quality
        "st-2": {"math": "4", "pe": "незачёт"},  # fails on the pass/fail subject
        "st-3": {"math": "3", "pe": "зачёт"},  # succeeds, not of quality
        "st-4": {},  # joined after the period: no values, not counted
    }
    stats = class_stats(finals, subjects)
    assert stats.students == 3
    assert stats.success_rate == pytest.approx(66.7)
    assert stats.quality == pytest.approx(33.3)  # st-1; st-2's 4 does not make up for a незачёт
    assert stats.average == 4.0  # (5 + 4 + 3) / 3, the pass/fail values are not marks
    assert stats.learning_degree == pytest.approx((100 + 64 + 36) / 3, abs=0.05)


def test_the_summary_sheet_prints_values_deferrals_and_flags_what_is_missing() -> None:
    math, pe, music = (
        Subject("math", "Математика"),
        Subject("pe", "Физкультура", pass_fail=True),
        Subject("music", "Музыка"),
    )
    students = [
        Student("st-2", "Петров Пётр"),
        Student("st-1", "Иванов Иван"),
        Student("st-3", "Сидорова Анна", subject_ids=frozenset({"math", "pe"})),  # ИУП
    ]
    finals = {
        ("st-1", "math"): "5",
        ("st-1", "pe"): "зачёт",
        ("st-1", "music"): "4",
        ("st-2", "math"): "н/а",
        ("st-2", "pe"): "осв.",
        ("st-3", "pe"): "зачёт",
    }
    deferrals = {("st-3", "math"): date(2026, 11, 20), ("st-1", "math"): date(2026, 11, 1)}
    sheet = summary_sheet(students, [math, pe, music], finals, deferrals)

    printed = [(s.name, [c.text for c in cells]) for s, cells in sheet.rows]
    assert printed == [
        ("Иванов Иван", ["5", "зач.", "4"]),  # the value replaced the deferral
        ("Петров Пётр", ["н/а", "осв.", ""]),
        ("Сидорова Анна", ["отсрочка до 20.11", "зач.", "—"]),
    ]
    assert [(s.student_id, subject.subject_id) for s, subject in sheet.missing] == [
        ("st-2", "music")
    ]
    assert sheet.rows[1][1][2].missing


SUBJECTS = [
    "Русский язык",
    "Литература",
    "Английский язык",
    "Математика",
    "Информатика",
    "История",
    "Обществознание",
    "География",
    "Биология",
    "Физика",
    "Химия",
    "Музыка",
    "ИЗО",
    "Технология",
    "Физкультура",
]


def test_a_class_of_30_in_15_subjects_fits_one_landscape_page(tmp_path: Path) -> None:
    period = Period("q2", "2 четверть", date(2026, 11, 5), date(2026, 12, 28))
    books = [
        StudentBook(
            "school-1",
            f"st-{n}",
            f"Ученикова-Длиннофамильная {n:02d}",
            "9a",
            "9А",
            final_marks=[
                FinalMark(name, "2 четверть", date(2026, 12, 26), "4", None, f"s{k}", "q2")
                for k, name in enumerate(SUBJECTS)
            ],
        )
        for n in range(30)
    ]
    report = class_report(ClassRecords(books), period)
    pdf = summary_sheet_pdf(create_environment(), "МБОУ «Школа № 1»", report, date(2026, 12, 28))
    sheet, statistics = pdf_pages(pdf, tmp_path)
    assert all(f"Ученикова-Длиннофамильная {n:02d}" in sheet for n in range(30))
    assert "Химия" in sheet and "Физкуль" in sheet  # the last subjects are on the page too
    assert sheet.startswith("Сводная ведомость итоговых отметок")
    assert statistics.startswith("Статистика результатов")
