"""Clause 7 in the grades service (issue 15): the curriculum as a reference record and the
lessons held as journal items, validated naming the field, published with their names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.grades.curriculum_items import StudyPlanIn
from services.grades.facts import RejectedError
from services.grades.items import ClassIn, PeriodIn, SubjectIn
from services.grades.store import lane_of
from services.grades.usecases import ForbiddenItemsError, put_reference, record_batch
from services.grades.week_examples import WEEK_ITEM_EXAMPLES
from services.grades.week_items import WEEK_KINDS, parse_batch_item
from services.grades.week_references import GroupIn
from tests.builders import a_book
from tests.fakes import FakeGradesStore

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PLAN: dict[str, Any] = StudyPlanIn.model_json_schema()["examples"][0]
# The OpenAPI example: a test of 5А in mathematics by t-1.
LESSON = {
    **next(raw for raw in WEEK_ITEM_EXAMPLES if raw["kind"] == "lesson_held"),
    "lesson_id": "l-1",
}
REMOVAL = {"kind": "lesson_held_removal", "lesson_id": "l-1"}


def a_plan_book() -> Any:
    """The example plan's school: 5А and 5Б of the basic level, 1 четверть, music."""
    book = a_book()
    book.classes["5b"] = ClassIn(name="5Б", education_level="basic")
    book.classes["1a"] = ClassIn(name="1А", education_level="primary")
    book.subjects["music"] = SubjectIn(name="Музыка")
    book.periods["q1"] = book.periods["q2"].model_copy(
        update={"name": "1 четверть", "starts_on": "2026-09-01", "ends_on": "2026-10-25"}
    )
    book.periods["q1-2025"] = PeriodIn(
        name="1 четверть",
        period_kind="quarter",
        school_year="2025/2026",
        starts_on="2025-09-01",  # type: ignore[arg-type]
        ends_on="2025-10-26",  # type: ignore[arg-type]
    )
    book.groups["5a-en-1"] = GroupIn(
        class_id="5a", name="Английский, группа 1", group_kind="elective", teacher_ids=("t-2",)
    )
    book.teachers["t-2"] = book.teachers["t-1"].model_copy(
        update={"name": "Соколов Игорь Павлович", "assignments": ()}
    )
    return book


def subject(index: int, **changes: Any) -> dict[str, Any]:
    subjects = [dict(s) for s in PLAN["subjects"]]
    subjects[index] = {**subjects[index], **changes}
    return {**PLAN, "subjects": subjects}


def period(**changes: Any) -> dict[str, Any]:
    first = PLAN["subjects"][0]["periods"][0]
    return subject(0, periods=[{**first, **changes}])


def refused(raw: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as refusal:
        StudyPlanIn.model_validate(raw)
    return {".".join(map(str, error["loc"])) for error in refusal.value.errors()}


# The curriculum's rules, each refused naming its field.


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**PLAN, "school_year": "2026/2028"}, "school_year"),
        ({**PLAN, "education_level": "middle"}, "education_level"),
        ({**PLAN, "name": ""}, "name"),
        ({**PLAN, "class_ids": ["5a", "5a"]}, "class_ids"),
        ({**PLAN, "subjects": []}, "subjects"),
        ({**PLAN, "subjects": [PLAN["subjects"][0]] * 2}, "subjects"),
        (subject(1, grading="points"), "subjects.1.grading"),
        (subject(0, subject_id="math/5"), "subjects.0.subject_id"),
        (
            subject(0, periods=[PLAN["subjects"][0]["periods"][0]] * 2),
            "subjects.0.periods",
        ),
        (period(hours=-1), "subjects.0.periods.0.hours"),
        (period(hours=601), "subjects.0.periods.0.hours"),
        (period(assessments={"test": 0}), "subjects.0.periods.0.assessments.test"),
        (period(assessments={"exam": 1}), "subjects.0.periods.0.assessments.exam.[key]"),
        (period(assessments={"lesson": 1}), "subjects.0.periods.0.assessments.lesson.[key]"),
        (period(hours=1, assessments={"test": 2}), "subjects.0.periods.0.assessments"),
        ({**PLAN, "surprise": 1}, "surprise"),
    ],
)
def test_each_curriculum_rule_is_refused_naming_its_field(raw: dict[str, Any], field: str) -> None:
    assert field in refused(raw)


async def test_a_curriculum_is_published_once_with_its_names_and_version() -> None:
    store = FakeGradesStore(a_plan_book())
    plan = StudyPlanIn.model_validate(PLAN)
    outcomes = [
        await put_reference("s1", "study_plan", "ooo-5", plan, store=store, now=NOW),
        await put_reference("s1", "study_plan", "ooo-5", plan, store=store, now=NOW),
    ]
    changed = plan.model_copy(update={"name": "Учебный план ООО, 5-е классы (ред. 2)"})
    outcomes.append(await put_reference("s1", "study_plan", "ooo-5", changed, store=store, now=NOW))
    assert outcomes == ["created", "unchanged", "updated"]
    assert [event.type for event in store.outbox] == ["StudyPlanChanged"] * 2
    first = store.outbox[0].payload
    assert [event.payload.record_version for event in store.outbox] == [1, 2]
    assert (first.plan_id, first.class_ids) == ("ooo-5", ("5a", "5b"))
    assert [(s.subject_name, s.grading) for s in first.subjects] == [
        ("Математика", "marks"),
        ("Музыка", "pass_fail"),
    ]
    assert first.subjects[0].periods[0].assessments == {"test": 2}
    assert store.outbox[0].key == b"s1"
    assert lane_of("study_plan") == lane_of("lesson_held") == "bulk"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (subject(1, subject_id="chem"), "subjects.1.subject_id"),
        (period(period_id="q9"), "subjects.0.periods.0.period_id"),
        (period(period_id="q1-2025"), "subjects.0.periods.0.period_id"),
        ({**PLAN, "class_ids": ["5a", "9z"]}, "class_ids.1"),
        ({**PLAN, "class_ids": ["1a"]}, "class_ids.0"),
    ],
)
async def test_a_curriculum_naming_what_does_not_fit_is_rejected_naming_the_field(
    raw: dict[str, Any], field: str
) -> None:
    store = FakeGradesStore(a_plan_book())
    plan = StudyPlanIn.model_validate(raw)
    with pytest.raises(RejectedError) as rejected:
        await put_reference("s1", "study_plan", "ooo-5", plan, store=store, now=NOW)
    assert rejected.value.error.field == field
    assert store.outbox == []


# The lessons held.


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({**LESSON, "lesson_type": "exam"}, "lesson_type"),
        ({**LESSON, "lesson_number": 13}, "lesson_number"),
        ({**LESSON, "lesson_date": "2101-01-01"}, "lesson_date"),
        ({**LESSON, "topic": ""}, "topic"),
        ({**LESSON, "topic": "x" * 501}, "topic"),
        ({**LESSON, "topic": "a\x00b"}, "topic"),
        ({k: v for k, v in LESSON.items() if k != "teacher_id"}, "teacher_id"),
        ({**LESSON, "lesson_id": "5a/1"}, "lesson_id"),
        ({**LESSON, "room": "214"}, "room"),
        ({**REMOVAL, "lesson_id": None}, "lesson_id"),
    ],
)
def test_each_lesson_held_rule_is_refused_naming_its_field(raw: dict[str, Any], field: str) -> None:
    parsed = parse_batch_item(raw)
    assert isinstance(parsed, list), parsed
    assert field in {error.field for error in parsed}


def test_a_lesson_held_is_a_plain_lesson_unless_typed() -> None:
    assert {"lesson_held", "lesson_held_removal"} <= WEEK_KINDS
    plain = parse_batch_item({k: v for k, v in LESSON.items() if k not in ("lesson_type", "topic")})
    assert not isinstance(plain, list), plain
    assert plain.lesson_type == "lesson" and plain.topic is None  # type: ignore[union-attr]


async def test_a_lesson_held_is_posted_corrected_and_removed_once_each_with_its_names() -> None:
    store = FakeGradesStore(a_plan_book())
    group_lesson = {**LESSON, "group_id": "5a-en-1"}
    outcomes = []
    for sent in (group_lesson, group_lesson, {**group_lesson, "topic": "Дроби"}, REMOVAL, REMOVAL):
        [result] = await record_batch("s1", [sent], store=store, now=NOW)
        assert not result.errors, result.errors
        outcomes.append(result.status)
    assert outcomes == ["accepted", "duplicate", "corrected", "retracted", "duplicate"]
    assert [event.type for event in store.outbox] == [
        "LessonHeld",
        "LessonHeld",
        "LessonHeldRemoved",
    ]
    assert [event.payload.record_version for event in store.outbox] == [1, 2, 3]
    held, removed = store.outbox[0].payload, store.outbox[-1].payload
    names = (held.class_name, held.education_level, held.group_name)
    assert names == ("5А", "basic", "Английский, группа 1")
    assert (held.subject_name, held.teacher_name) == ("Математика", "Петрова Анна Сергеевна")
    assert (held.lesson_type, held.topic) == ("test", LESSON["topic"])
    assert removed.topic == "Дроби"  # the lesson as it was when taken back
    assert store.outbox[0].key == b"s1/5a"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"class_id": "9z"}, "class_id"),
        ({"group_id": "nope"}, "group_id"),
        ({"subject_id": "chem"}, "subject_id"),
        ({"teacher_id": "t-9"}, "teacher_id"),
    ],
)
async def test_a_lesson_held_naming_what_does_not_exist_is_rejected(
    changes: dict[str, Any], field: str
) -> None:
    store = FakeGradesStore(a_plan_book())
    [result] = await record_batch("s1", [{**LESSON, **changes}], store=store, now=NOW)
    assert result.status == "rejected"
    assert [e.field for e in result.errors] == [field]


async def test_removing_an_unknown_lesson_or_moving_one_is_rejected() -> None:
    store = FakeGradesStore(a_plan_book())
    [unknown] = await record_batch("s1", [REMOVAL], store=store, now=NOW)
    assert [e.field for e in unknown.errors] == ["lesson_id"]
    await record_batch("s1", [LESSON], store=store, now=NOW)
    [moved] = await record_batch("s1", [{**LESSON, "class_id": "5b"}], store=store, now=NOW)
    assert [e.field for e in moved.errors] == ["class_id"]


async def test_a_teacher_records_lessons_only_of_their_classes_and_groups() -> None:
    store = FakeGradesStore(a_plan_book())
    own = await record_batch("s1", [LESSON], store=store, now=NOW, teacher_id="t-1")
    assert own[0].status == "accepted"
    group = {**LESSON, "lesson_id": "l-2", "group_id": "5a-en-1", "teacher_id": "t-2"}
    assert (await record_batch("s1", [group], store=store, now=NOW, teacher_id="t-2"))[
        0
    ].status == "accepted"
    with pytest.raises(ForbiddenItemsError, match="class_id"):
        await record_batch(
            "s1", [{**LESSON, "lesson_id": "l-3"}], store=store, now=NOW, teacher_id="t-2"
        )
    with pytest.raises(ForbiddenItemsError, match="lesson_id"):
        await record_batch("s1", [REMOVAL], store=store, now=NOW, teacher_id="t-2")
