"""Clause 4's items and reference records in the grades service: events, names, versions,
who may send what (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.grades.store import lane_of
from services.grades.usecases import ForbiddenItemsError, put_reference, record_batch
from services.grades.week_examples import WEEK_ITEM_EXAMPLES
from services.grades.week_facts import calendar_year_error
from services.grades.week_references import (
    BellScheduleIn,
    GroupIn,
    IndividualCurriculumIn,
    SchoolCalendarIn,
)
from tests.builders import a_book
from tests.fakes import FakeGradesStore

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def a_week_book() -> Any:
    book = a_book()
    book.subjects["en"] = book.subjects["math"].model_copy(update={"name": "Английский язык"})
    book.teachers["t-2"] = book.teachers["t-1"].model_copy(
        update={"name": "Соколов Игорь Павлович", "assignments": ()}
    )
    book.groups["5a-en-1"] = GroupIn(
        class_id="5a",
        name="Английский, группа 1",
        group_kind="subject_split",
        subject_id="en",
        student_ids=("st-1",),
        teacher_ids=("t-2",),
    )
    return book


LESSON = {
    "kind": "timetable_lesson",
    "lesson_id": "tt-1",
    "class_id": "5a",
    "weekday": 1,
    "lesson_number": 1,
    "subject_id": "math",
    "teacher_id": "t-1",
    "valid_from": "2026-09-01",
    "valid_to": "2026-12-28",
}
CHANGE = {
    "kind": "lesson_change",
    "change_id": "ch-1",
    "change": "substitution",
    "class_id": "5a",
    "group_id": "5a-en-1",
    "lesson_date": "2026-12-01",
    "lesson_number": 3,
    "subject_id": "en",
    "teacher_id": "t-2",
    "substitute_teacher_id": "t-1",
    "reason": "болезнь учителя",
}
TEST = {
    "kind": "assessment",
    "assessment_id": "a-1",
    "assessment_kind": "test",
    "class_id": "5a",
    "subject_id": "math",
    "teacher_id": "t-1",
    "period_id": "q2",
    "assessment_date": "2026-12-10",
    "lesson_number": 2,
}
HOMEWORK = {
    "kind": "homework",
    "homework_id": "hw-1",
    "class_id": "5a",
    "subject_id": "math",
    "teacher_id": "t-1",
    "lesson_date": "2026-11-30",
    "due_on": "2026-12-02",
    "text": "№ 245",
}
ADVICE = {
    "kind": "recommendation",
    "recommendation_id": "r-1",
    "student_id": "st-1",
    "teacher_id": "t-1",
    "subject_id": "math",
    "given_on": "2026-11-30",
    "text": "Повторить таблицу умножения",
}
LIFECYCLES = [
    (
        LESSON,
        {"room": "214"},
        {"kind": "timetable_lesson_removal", "lesson_id": "tt-1"},
        ["TimetableLessonChanged", "TimetableLessonChanged", "TimetableLessonRemoved"],
    ),
    (
        CHANGE,
        {"reason": "курсы"},
        {"kind": "lesson_change_retraction", "change_id": "ch-1"},
        ["LessonChangePosted", "LessonChangeCorrected", "LessonChangeRetracted"],
    ),
    (
        TEST,
        {"assessment_date": "2026-12-11"},
        {"kind": "assessment_cancellation", "assessment_id": "a-1"},
        ["AssessmentPlanned", "AssessmentRescheduled", "AssessmentCancelled"],
    ),
    (
        HOMEWORK,
        {"due_on": "2026-12-03"},
        {"kind": "homework_retraction", "homework_id": "hw-1"},
        ["HomeworkAssigned", "HomeworkCorrected", "HomeworkRetracted"],
    ),
    (
        ADVICE,
        {"text": "Повторить таблицу умножения на 7"},
        {"kind": "recommendation_retraction", "recommendation_id": "r-1"},
        ["RecommendationPosted", "RecommendationCorrected", "RecommendationRetracted"],
    ),
]


@pytest.mark.parametrize(("item", "correction", "withdrawal", "types"), LIFECYCLES)
async def test_each_item_is_posted_corrected_and_withdrawn_once(
    item: dict[str, Any], correction: dict[str, Any], withdrawal: dict[str, Any], types: list[str]
) -> None:
    store = FakeGradesStore(a_week_book())
    outcomes = []
    for sent in (item, item, {**item, **correction}, withdrawal, withdrawal):
        [result] = await record_batch("s1", [sent], store=store, now=NOW)
        assert not result.errors, result.errors
        outcomes.append(result.status)
    assert outcomes == ["accepted", "duplicate", "corrected", "retracted", "duplicate"]
    assert [event.type for event in store.outbox] == types
    assert [event.payload.record_version for event in store.outbox] == [1, 2, 3]


async def test_facts_carry_the_names_a_notice_needs() -> None:
    store = FakeGradesStore(a_week_book())
    await record_batch("s1", [CHANGE, ADVICE], store=store, now=NOW)
    change, advice = (event.payload for event in store.outbox)
    assert (change.class_name, change.education_level, change.group_name) == (
        "5А",
        "basic",
        "Английский, группа 1",
    )
    assert change.subject_name == "Английский язык"
    assert change.teacher_name == "Соколов Игорь Павлович"
    assert change.substitute_teacher_name == "Петрова Анна Сергеевна"
    assert (advice.student_name, advice.class_name) == ("Иванов Иван", "5А")


async def test_announce_false_is_copied_into_the_facts() -> None:
    store = FakeGradesStore(a_week_book())
    await record_batch("s1", [CHANGE, TEST, HOMEWORK], store=store, now=NOW, announce=False)
    assert [event.payload.announce for event in store.outbox] == [False, False, False]
    await record_batch("s1", [{**TEST, "assessment_id": "a-2"}], store=store, now=NOW)
    assert store.outbox[-1].payload.announce is True


async def test_an_assessment_corrected_without_moving_is_not_news() -> None:
    store = FakeGradesStore(a_week_book())
    await record_batch("s1", [TEST], store=store, now=NOW)
    await record_batch("s1", [{**TEST, "title": "Дроби"}], store=store, now=NOW)
    assert store.outbox[-1].type == "AssessmentPlanned"
    assert store.outbox[-1].payload.announce is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"class_id": "9z"}, "class_id"),
        ({"group_id": "nope"}, "group_id"),
        ({"subject_id": "chem"}, "subject_id"),
        ({"substitute_teacher_id": "t-9"}, "substitute_teacher_id"),
    ],
)
async def test_references_that_do_not_exist_are_rejected_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    store = FakeGradesStore(a_week_book())
    [result] = await record_batch("s1", [{**CHANGE, **changes}], store=store, now=NOW)
    assert result.status == "rejected"
    assert [e.field for e in result.errors] == [field]


async def test_every_openapi_example_parses() -> None:
    store = FakeGradesStore(a_week_book())
    results = await record_batch("s1", WEEK_ITEM_EXAMPLES, store=store, now=NOW)
    # Parsed, at least: the book lacks some of the example's ids, never a field.
    assert all(e.field != "kind" for r in results for e in r.errors)


async def test_a_teacher_sends_only_for_their_classes_and_groups() -> None:
    store = FakeGradesStore(a_week_book())
    # t-2 teaches no class, only the English group.
    group_change = await record_batch("s1", [CHANGE], store=store, now=NOW, teacher_id="t-2")
    assert group_change[0].status == "accepted"
    with pytest.raises(ForbiddenItemsError, match="class_id"):
        await record_batch(
            "s1", [{**HOMEWORK, "teacher_id": "t-2"}], store=store, now=NOW, teacher_id="t-2"
        )
    with pytest.raises(ForbiddenItemsError, match="teacher_id"):
        await record_batch(
            "s1", [{**ADVICE, "teacher_id": "t-1"}], store=store, now=NOW, teacher_id="t-2"
        )
    # A group's student: t-2 may recommend to st-1 in their own name.
    advice = await record_batch(
        "s1", [{**ADVICE, "teacher_id": "t-2"}], store=store, now=NOW, teacher_id="t-2"
    )
    assert advice[0].status == "accepted"
    accepted = await record_batch("s1", [HOMEWORK, TEST], store=store, now=NOW, teacher_id="t-1")
    assert [r.status for r in accepted] == ["accepted", "accepted"]
    with pytest.raises(ForbiddenItemsError, match="homework_id"):
        await record_batch(
            "s1",
            [{"kind": "homework_retraction", "homework_id": "hw-1"}],
            store=store,
            now=NOW,
            teacher_id="t-2",
        )


def test_lesson_changes_go_first_and_the_timetable_last() -> None:
    assert lane_of("lesson_change") == "urgent"
    for kind in ("timetable_lesson", "group", "curriculum", "bell_schedule", "calendar"):
        assert lane_of(kind) == "bulk"
    assert lane_of("homework") == "normal"


CALENDAR = SchoolCalendarIn(
    school_year="2026/2027",
    starts_on="2026-09-01",  # type: ignore[arg-type]
    ends_on="2027-05-26",  # type: ignore[arg-type]
    non_school_days=[  # type: ignore[list-item]
        {
            "name": "Каникулы",
            "days_kind": "holidays",
            "starts_on": "2026-10-26",
            "ends_on": "2026-11-03",
            "class_ids": ["5a"],
        }
    ],
)


async def test_reference_records_publish_once_with_their_names() -> None:
    book = a_week_book()
    store = FakeGradesStore(book)
    curriculum = IndividualCurriculumIn(
        school_year="2026/2027",
        education_level="primary",
        valid_from="2026-09-01",  # type: ignore[arg-type]
        valid_to="2027-05-31",  # type: ignore[arg-type]
        subjects=[{"subject_id": "math", "teacher_id": "t-1"}],  # type: ignore[list-item]
    )
    bells = BellScheduleIn(
        name="Основное",
        bells=[{"lesson_number": 1, "starts_at": "08:30", "ends_at": "09:15"}],  # type: ignore[list-item]
    )
    records: list[tuple[str, str, Any]] = [
        ("group", "5a-en-1", book.groups["5a-en-1"]),
        ("curriculum", "st-1", curriculum),
        ("bell_schedule", "main", bells),
        ("calendar", "2026", CALENDAR),
    ]
    for kind, record_id, record in records:
        outcome = await put_reference("s1", kind, record_id, record, store=store, now=NOW)
        assert outcome == "created"
        again = await put_reference("s1", kind, record_id, record, store=store, now=NOW)
        assert again == "unchanged"
    types = [event.type for event in store.outbox]
    assert types == [
        "GroupChanged",
        "IndividualCurriculumChanged",
        "BellScheduleChanged",
        "SchoolCalendarChanged",
    ]
    group, plan = store.outbox[0].payload, store.outbox[1].payload
    assert (group.class_name, group.group_name, group.subject_name) == (
        "5А",
        "Английский, группа 1",
        "Английский язык",
    )
    # The student's own programme level, not their class's.
    assert plan.education_level == "primary" and plan.class_id == "5a"
    assert plan.subjects[0].teacher_name == "Петрова Анна Сергеевна"


async def test_reference_records_name_what_does_not_exist() -> None:
    from services.grades.facts import RejectedError

    store = FakeGradesStore(a_week_book())
    group = GroupIn(class_id="5a", name="Ф", group_kind="elective", student_ids=("st-1", "ghost"))
    with pytest.raises(RejectedError) as refused:
        await put_reference("s1", "group", "g", group, store=store, now=NOW)
    assert refused.value.error.field == "student_ids.1"
    calendar = CALENDAR.model_copy(
        update={
            "non_school_days": (
                CALENDAR.non_school_days[0].model_copy(update={"class_ids": ("9z",)}),
            )
        }
    )
    with pytest.raises(RejectedError) as refused:
        await put_reference("s1", "calendar", "2026", calendar, store=store, now=NOW)
    assert refused.value.error.field == "non_school_days.0.class_ids.0"


def test_a_calendar_is_kept_under_its_first_year() -> None:
    assert calendar_year_error(2026, CALENDAR) is None
    mismatch = calendar_year_error(2027, CALENDAR)
    assert mismatch is not None and mismatch.error.field == "school_year"


def test_a_teacher_reads_what_they_teach_the_student_in_groups_and_curricula_too() -> None:
    from services.grades.domain import subjects_taught

    book = a_week_book()
    assert subjects_taught("t-2", "st-1", book) == {"en"}
    book.curricula["st-1"] = IndividualCurriculumIn(
        school_year="2026/2027",
        education_level="basic",
        valid_from="2026-09-01",  # type: ignore[arg-type]
        valid_to="2027-05-31",  # type: ignore[arg-type]
        subjects=[{"subject_id": "music", "teacher_id": "t-2"}],  # type: ignore[list-item]
    )
    assert subjects_taught("t-2", "st-1", book) == {"en", "music"}
    assert subjects_taught("t-1", "st-1", book) == {"math"}


async def test_a_kind_that_is_no_string_is_rejected_not_a_crash() -> None:
    store = FakeGradesStore(a_week_book())
    results = await record_batch("s1", [{"kind": ["homework"]}, {"kind": {}}], store=store, now=NOW)
    assert [r.status for r in results] == ["rejected", "rejected"]


async def test_a_change_of_a_timetabled_lesson_names_who_was_to_teach_it() -> None:
    store = FakeGradesStore(a_week_book())
    await record_batch("s1", [LESSON], store=store, now=NOW)
    change = {
        **CHANGE,
        "group_id": None,
        "subject_id": "math",
        "teacher_id": None,
        "substitute_teacher_id": "t-2",
        "timetable_lesson_id": "tt-1",
    }
    [result] = await record_batch("s1", [change], store=store, now=NOW)
    assert result.status == "accepted", result.errors
    assert store.outbox[-1].payload.teacher_name == "Петрова Анна Сергеевна"
