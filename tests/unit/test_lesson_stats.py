"""Issue 15 with a curriculum: which subjects a class's summary sheet lists and how it grades
them, individual curricula, and the lessons held against the plan (clause 7), by hand."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from schemas.curriculum import LessonHeldFacts, StudyPlanChangedPayload
from schemas.timetable import IndividualCurriculumChangedPayload
from services.digest.curriculum import individual_subjects, plan_of_class, planned_for
from services.digest.domain import FinalMark, Period, StudentBook
from services.digest.lesson_stats import lesson_stats
from services.digest.reports import ClassRecords, class_report

Q1 = Period("q1", "1 четверть", date(2026, 9, 1), date(2026, 10, 24), "2026/2027")
Q2 = Period("q2", "2 четверть", date(2026, 11, 5), date(2026, 12, 28), "2026/2027")
Q3 = Period("q3", "3 четверть", date(2027, 1, 11), date(2027, 3, 20), "2026/2027")
YEAR = Period("y", "Год", date(2026, 9, 1), date(2027, 5, 26), "2026/2027")


def plan(plan_id: str = "ooo-5", *, class_ids: tuple[str, ...] = (), **changes: Any) -> Any:
    body: dict[str, Any] = {
        "school_id": "school-1",
        "plan_id": plan_id,
        "name": "Учебный план ООО",
        "school_year": "2026/2027",
        "education_level": "basic",
        "class_ids": class_ids,
        "subjects": [
            {
                "subject_id": "math",
                "subject_name": "Математика",
                "periods": [
                    {"period_id": "q1", "hours": 40, "assessments": {"test": 2}},
                    {"period_id": "q2", "hours": 36, "assessments": {"test": 1}},
                ],
            },
            {
                "subject_id": "music",
                "subject_name": "Музыка",
                "grading": "pass_fail",
                "periods": [{"period_id": "q1", "hours": 8}, {"period_id": "q2", "hours": 8}],
            },
            {  # taught in the second half-year only
                "subject_id": "astro",
                "subject_name": "Астрономия",
                "periods": [{"period_id": "q3", "hours": 9}],
            },
            {"subject_id": "art", "subject_name": "ИЗО"},  # all year, hours unplanned
        ],
        **changes,
    }
    return StudyPlanChangedPayload.model_validate(body)


def final(subject_id: str, value: str | None, *, deferred: date | None = None) -> FinalMark:
    names = {"math": "Математика", "music": "Музыка", "art": "ИЗО", "chess": "Шахматы"}
    return FinalMark(names[subject_id], "1 четверть", Q1.ends_on, value, deferred, subject_id, "q1")


def book(student_id: str, name: str, *finals: FinalMark) -> StudentBook:
    return StudentBook(
        "school-1", student_id, name, "5a", "5А", final_marks=list(finals), education_level="basic"
    )


def test_a_class_follows_the_plan_naming_it_before_its_level_s_and_only_of_the_year() -> None:
    level, named = plan("level"), plan("named", class_ids=("5a",))
    other_year = plan("old", class_ids=("5a",), school_year="2025/2026")
    found = plan_of_class(
        [level, named, other_year], class_id="5a", education_level="basic", school_year="2026/2027"
    )
    assert found is named
    found = plan_of_class(
        [level, other_year], class_id="5b", education_level="basic", school_year="2026/2027"
    )
    assert found is level
    assert not plan_of_class(
        [level], class_id="10a", education_level="secondary", school_year="2026/2027"
    )


def test_a_year_plans_the_sum_of_its_quarters_and_a_quarter_only_what_it_teaches() -> None:
    quarter = {p.subject.subject_id: p for p in planned_for(plan(), Q1, [Q1, Q2, YEAR])}
    assert list(quarter) == ["math", "music", "art"]  # no astronomy in the first quarter
    assert quarter["math"].hours == 40 and quarter["math"].assessments == {"test": 2}
    assert quarter["art"].hours is None and quarter["music"].pass_fail
    year = {p.subject.subject_id: p for p in planned_for(plan(), YEAR, [Q1, Q2, Q3, YEAR])}
    assert year["math"].hours == 76 and year["math"].assessments == {"test": 3}
    assert year["astro"].hours == 9


def test_the_sheet_lists_the_plan_s_subjects_grades_pass_fail_and_honours_an_iup() -> None:
    curricula = [
        IndividualCurriculumChangedPayload.model_validate(
            {
                "school_id": "school-1",
                "student_id": "st-3",
                "class_id": "5a",
                "school_year": "2026/2027",
                "education_level": "basic",
                "valid_from": "2026-09-01",
                "valid_to": "2027-05-31",
                "subjects": [{"subject_id": "math", "subject_name": "Математика"}],
            }
        )
    ]
    books = [
        book("st-1", "Иванов Иван", final("math", "5"), final("music", "зачёт"), final("art", "4")),
        # joined mid-period: only the math teacher has graded her yet, and an elective
        book("st-2", "Петрова Анна", final("math", "3"), final("chess", "зачёт")),
        book("st-3", "Сидоров Олег", final("math", None, deferred=date(2026, 11, 20))),
    ]
    records = ClassRecords(books, [Q1, Q2], [plan()], curricula)
    report = class_report(records, Q1)
    assert report.planned
    assert [(s.subject_id, s.pass_fail) for s in report.sheet.subjects] == [
        ("math", False),
        ("music", True),
        ("art", False),
        ("chess", True),  # outside the plan, yet given a final: shown after the plan's
    ]
    cells = {st.student_id: [c.text for c in row] for st, row in report.sheet.rows}
    assert cells["st-1"] == ["5", "зач.", "4", ""]
    assert cells["st-2"] == ["3", "", "", "зач."]
    assert cells["st-3"] == ["отсрочка до 20.11", "—", "—", "—"]  # ИУП: math only
    assert [(st.student_id, s.subject_id) for st, s in report.sheet.missing] == [
        ("st-1", "chess"),
        ("st-2", "music"),
        ("st-2", "art"),
    ]
    # math: 5 and 3 given (st-3 deferred is not counted): N = 2
    math = report.by_subject["math"]
    assert (math.students, math.average, math.quality, math.success_rate) == (2, 4.0, 50.0, 100.0)
    assert report.by_subject["music"].quality is None  # pass/fail: no quality, no СОУ


def test_a_teacher_s_view_keeps_only_their_subjects() -> None:
    books = [book("st-1", "Иванов Иван", final("math", "5"), final("music", "зачёт"))]
    report = class_report(ClassRecords(books, [Q1], [plan()], subject_ids=frozenset({"math"})), Q1)
    assert [s.subject_id for s in report.sheet.subjects] == ["math"]
    assert not report.sheet.missing


def test_an_iup_in_force_only_outside_the_period_does_not_apply() -> None:
    curriculum = IndividualCurriculumChangedPayload.model_validate(
        {
            "school_id": "school-1",
            "student_id": "st-3",
            "class_id": "5a",
            "school_year": "2026/2027",
            "education_level": "basic",
            "valid_from": "2026-11-05",
            "valid_to": "2027-05-31",
            "subjects": [{"subject_id": "math", "subject_name": "Математика"}],
        }
    )
    assert individual_subjects([curriculum], "st-3", Q1) is None
    assert individual_subjects([curriculum], "st-3", Q2) == {"math"}


def lesson(day: date, subject: str = "math", **changes: Any) -> LessonHeldFacts:
    facts: dict[str, Any] = {
        "school_id": "school-1",
        "class_id": "5a",
        "class_name": "5А",
        "education_level": "basic",
        "lesson_id": f"l-{subject}-{day}-{changes.get('lesson_number', 1)}",
        "lesson_date": day,
        "lesson_number": 1,
        "subject_id": subject,
        "subject_name": {"math": "Математика", "music": "Музыка", "en": "Английский язык"}[subject],
        "teacher_id": "t-1",
        "teacher_name": "Петрова Анна Сергеевна",
        **changes,
    }
    return LessonHeldFacts.model_validate(facts)


def school_days(first: date, last: date) -> list[date]:
    days = [first + timedelta(n) for n in range((last - first).days + 1)]
    return [day for day in days if day.isoweekday() <= 5]


def test_lessons_planned_due_and_held_by_type_teacher_and_group() -> None:
    # Q1 runs 1 Sep – 24 Oct 2026: 39 weekdays. By Friday 2 Oct, 24 of them have gone by:
    # 40 · 24 / 39 = 24.6, so 24 lessons of math are due.
    september = school_days(date(2026, 9, 1), date(2026, 9, 30))  # 22 school days
    lessons = [lesson(day) for day in september[:18]]
    lessons += [lesson(date(2026, 9, 15), lesson_type="test", lesson_number=3)]
    lessons += [
        lesson(date(2026, 9, 16), teacher_id="t-9", teacher_name="Замена Ольга", lesson_number=4)
    ]
    lessons += [lesson(date(2026, 9, 3), "music")]  # music: 1 held, 8 · 24 / 39 = 4.9 due
    lessons += [  # English in two groups, outside the plan
        lesson(date(2026, 9, 2), "en", group_id="g1", group_name="Группа 1"),
        lesson(date(2026, 9, 2), "en", group_id="g2", group_name="Группа 2", lesson_number=2),
    ]
    lessons += [lesson(date(2026, 11, 10))]  # the next quarter's: not counted
    planned = planned_for(plan(), Q1, [Q1, Q2])
    rows = lesson_stats(planned, lessons, Q1, as_of=date(2026, 10, 2))
    by_key = {(r.subject_id, r.group_id): r for r in rows}
    assert list(by_key) == [
        ("math", None),
        ("music", None),
        ("art", None),
        ("en", "g1"),
        ("en", "g2"),
    ]
    math = by_key[("math", None)]
    assert (math.planned, math.due, math.held, math.difference) == (40, 24, 20, -20)
    assert math.behind  # 20 held of 24 due
    assert math.by_type == {"lesson": 19, "test": 1}
    assert math.by_teacher == {"Петрова Анна Сергеевна": 19, "Замена Ольга": 1}
    assert math.assessments == {"test": (2, 1)}
    music = by_key[("music", None)]
    assert (music.planned, music.due, music.held, music.behind) == (8, 4, 1, True)
    art = by_key[("art", None)]
    assert (art.planned, art.held, art.behind) == (None, 0, False)  # no hours: never behind
    assert by_key[("en", "g2")].group_name == "Группа 2" and by_key[("en", "g2")].planned is None


def test_holidays_do_not_count_as_school_days_and_after_the_period_all_is_due() -> None:
    holidays = set(school_days(date(2026, 9, 21), date(2026, 10, 2)))  # 10 of the 39 days
    rows = lesson_stats(
        planned_for(plan(), Q1, [Q1]),
        [lesson(day) for day in school_days(date(2026, 9, 1), date(2026, 9, 18))],  # 14
        Q1,
        as_of=date(2026, 10, 2),
        day_off=holidays.__contains__,
    )
    math = rows[0]
    # 14 of the 29 school days gone by: 40 · 14 / 29 = 19.3, so 19 are due and 14 held.
    assert (math.due, math.held, math.behind) == (19, 14, True)
    after = lesson_stats(planned_for(plan(), Q1, [Q1]), [], Q1, as_of=date(2026, 11, 1))
    assert after[0].due == 40
