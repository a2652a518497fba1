"""Clause 4's data: the events on their topics and keys, and the journal's input models."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.classwork import (
    AssessmentEvent,
    AssessmentRescheduled,
    AssessmentRescheduledPayload,
    HomeworkAssigned,
    HomeworkAssignedPayload,
    RecommendationEvent,
    RecommendationPosted,
    RecommendationPostedPayload,
    RecommendationRetracted,
    RecommendationRetractedPayload,
)
from schemas.envelope import Envelope
from schemas.timetable import (
    BellScheduleChanged,
    BellScheduleChangedPayload,
    LessonChangeEvent,
    LessonChangePosted,
    LessonChangePostedPayload,
)
from schemas.topics import CLAUSE_4_TOPICS, EVENTS_BY_TOPIC
from services.grades.items import Input
from services.grades.week_examples import WEEK_ITEM_EXAMPLES
from services.grades.week_items import WEEK_KINDS, WeekItem, parse_week_item
from services.grades.week_references import (
    BellScheduleIn,
    GroupIn,
    IndividualCurriculumIn,
    SchoolCalendarIn,
)

CLASS = {"school_id": "s1", "class_id": "5a", "class_name": "5А", "education_level": "basic"}


def substitution(**changes: Any) -> LessonChangePostedPayload:
    fields: dict[str, Any] = {
        **CLASS,
        "group_id": "5a-en-1",
        "group_name": "Английский, группа 1",
        "change_id": "ch-1",
        "change": "substitution",
        "lesson_date": date(2026, 12, 1),
        "lesson_number": 3,
        "subject_id": "en",
        "subject_name": "Английский язык",
        "teacher_name": "Петрова А. С.",
        "substitute_teacher_name": "Сидорова М. И.",
        "reason": "болезнь учителя",
        "record_version": 1,
        **changes,
    }
    return LessonChangePostedPayload(**fields)


def recommendation(**changes: Any) -> dict[str, Any]:
    return {
        "school_id": "s1",
        "student_id": "st-1",
        "student_name": "Иванов Иван",
        "class_name": "5А",
        "recommendation_id": "r-1",
        "teacher_name": "Петрова А. С.",
        "subject_id": "math",
        "subject_name": "Математика",
        "given_on": date(2026, 11, 30),
        "text": "Повторить таблицу умножения на 7 и 8",
        **changes,
    }


def on_the_wire(event: Envelope[Any]) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(event.model_dump_json())
    return wire


def test_every_new_fact_has_its_own_versioned_topic() -> None:
    assert set(CLAUSE_4_TOPICS) <= set(EVENTS_BY_TOPIC)


def test_a_class_fact_is_keyed_by_school_and_class_so_two_schools_never_share_a_key() -> None:
    event = LessonChangePosted.new(substitution(), producer="grades")
    other_school = LessonChangePosted.new(substitution(school_id="s2"), producer="grades")
    assert event.key == b"s1/5a"
    assert other_school.key == b"s2/5a"


def test_a_recommendation_is_keyed_by_its_student_like_every_student_fact() -> None:
    event = RecommendationPosted.new(RecommendationPostedPayload(**recommendation()), producer="g")
    assert event.key == b"st-1"


def test_reference_data_is_keyed_by_the_school() -> None:
    bells = BellScheduleChangedPayload(
        school_id="s1",
        bell_schedule_id="main",
        name="Основное",
        bells=({"lesson_number": 1, "starts_at": "08:30", "ends_at": "09:15"},),  # type: ignore[arg-type]
    )
    assert BellScheduleChanged.new(bells, producer="grades").key == b"s1"


def test_a_topic_union_tells_posted_corrected_and_retracted_apart() -> None:
    retracted = RecommendationRetracted.new(
        RecommendationRetractedPayload(**recommendation(reason="ошибка")), producer="grades"
    )
    decoded = TypeAdapter(RecommendationEvent).validate_python(on_the_wire(retracted))
    assert decoded == retracted
    posted = LessonChangePosted.new(substitution(), producer="grades")
    assert TypeAdapter(LessonChangeEvent).validate_python(on_the_wire(posted)) == posted


def test_a_moved_assessment_says_when_it_was_before() -> None:
    payload = AssessmentRescheduledPayload(
        **CLASS,
        assessment_id="a-1",
        assessment_kind="test",
        subject_id="math",
        subject_name="Математика",
        assessment_date=date(2026, 12, 10),
        previous_date=date(2026, 12, 8),
    )
    event = AssessmentRescheduled.new(payload, producer="grades")
    decoded = TypeAdapter(AssessmentEvent).validate_python(on_the_wire(event))
    assert isinstance(decoded, AssessmentRescheduled)
    assert decoded.payload.previous_date == date(2026, 12, 8)


def test_a_lesson_change_without_a_reason_is_refused() -> None:
    with pytest.raises(ValidationError, match="reason"):
        substitution(reason="")


def test_unknown_fields_in_a_new_event_are_refused() -> None:
    homework = HomeworkAssignedPayload(
        **CLASS,
        homework_id="hw-1",
        subject_id="math",
        subject_name="Математика",
        teacher_name="Петрова А. С.",
        lesson_date=date(2026, 11, 30),
        due_on=date(2026, 12, 2),
        text="№ 245",
    )
    wire = on_the_wire(HomeworkAssigned.new(homework, producer="grades"))
    wire["payload"]["surprise"] = 1
    with pytest.raises(ValidationError, match=r"payload\.surprise"):
        HomeworkAssigned.model_validate(wire)


# The journal's input models.

REFERENCES: list[type[Input]] = [GroupIn, IndividualCurriculumIn, BellScheduleIn, SchoolCalendarIn]


def example_of(kind: str, **changes: Any) -> dict[str, Any]:
    first = next(raw for raw in WEEK_ITEM_EXAMPLES if raw["kind"] == kind)
    return {**first, **changes}


def refused_fields(raw: dict[str, Any]) -> set[str]:
    parsed = parse_week_item(raw)
    assert isinstance(parsed, list), f"accepted: {parsed}"
    return {error.field for error in parsed}


def parsed(raw: dict[str, Any]) -> WeekItem:
    item = parse_week_item(raw)
    assert not isinstance(item, list), item
    return item


@pytest.mark.parametrize("raw", WEEK_ITEM_EXAMPLES, ids=lambda raw: raw["kind"])
def test_every_batch_example_is_accepted(raw: dict[str, Any]) -> None:
    assert parsed(raw).kind == raw["kind"]


def test_the_examples_show_every_kind() -> None:
    assert {raw["kind"] for raw in WEEK_ITEM_EXAMPLES} == WEEK_KINDS


@pytest.mark.parametrize("model", REFERENCES, ids=lambda model: model.__name__)
def test_every_reference_example_is_accepted(model: type[Input]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (example_of("timetable_lesson", weekday=0), "weekday"),
        (example_of("timetable_lesson", weekday=7), "weekday"),
        (example_of("timetable_lesson", lesson_number=13), "lesson_number"),
        (example_of("timetable_lesson", lesson_number=-1), "lesson_number"),
        (example_of("timetable_lesson", week="C"), "week"),
        (example_of("timetable_lesson", valid_to="2026-08-31"), "valid_to"),
        (example_of("timetable_lesson", valid_from="1980-09-01"), "valid_from"),
        (example_of("timetable_lesson", lesson_id="5a/mon/1"), "lesson_id"),
        (example_of("timetable_lesson", class_id=""), "class_id"),
        (example_of("timetable_lesson", room="x" * 51), "room"),
        (example_of("timetable_lesson_removal", lesson_id=None), "lesson_id"),
        (example_of("lesson_change", reason=""), "reason"),
        ({k: v for k, v in example_of("lesson_change").items() if k != "reason"}, "reason"),
        (example_of("lesson_change", change="swap"), "change"),
        (example_of("lesson_change", substitute_teacher_id=None), "substitute_teacher_id"),
        (example_of("lesson_change", change="cancellation"), "substitute_teacher_id"),
        (example_of("lesson_change", change="extra", substitute_teacher_id=None), "teacher_id"),
        (
            example_of("lesson_change", change="move", substitute_teacher_id=None),
            "new_date",
        ),
        (
            example_of(
                "lesson_change", change="cancellation", substitute_teacher_id=None, new_room="101"
            ),
            "new_date",
        ),
        (example_of("lesson_change", lesson_date="2101-01-01"), "lesson_date"),
        (
            example_of(
                "lesson_change", new_lesson_number=13, change="move", substitute_teacher_id=None
            ),
            "new_lesson_number",
        ),
        (example_of("assessment", assessment_kind="exam"), "assessment_kind"),
        (example_of("assessment", assessment_date="2200-01-01"), "assessment_date"),
        (example_of("assessment", title="x" * 301), "title"),
        (example_of("homework", due_on="2026-11-29"), "due_on"),
        (example_of("homework", text=""), "text"),
        (example_of("homework", text="x" * 5001), "text"),
        (example_of("homework", text="a\x00b"), "text"),
        (example_of("homework", attachments=[{"url": "ftp://files/hw.pdf"}]), "attachments.0.url"),
        (example_of("homework", attachments=[{"url": "https://x/"}] * 21), "attachments"),
        (example_of("recommendation", text=""), "text"),
        (example_of("recommendation", student_id=None), "student_id"),
        (example_of("recommendation", surprise=1), "surprise"),
        ({"kind": "timetable"}, "kind"),
    ],
)
def test_each_item_rule_is_refused_naming_its_field(raw: dict[str, Any], field: str) -> None:
    assert field in refused_fields(raw)


def test_a_move_may_change_only_the_room() -> None:
    move = example_of("lesson_change", change="move", substitute_teacher_id=None, new_room="101")
    assert parsed(move).kind == "lesson_change"


def test_a_group_lesson_keeps_its_group_and_week() -> None:
    lesson = parsed(WEEK_ITEM_EXAMPLES[1])
    assert lesson.kind == "timetable_lesson"
    assert (lesson.group_id, lesson.week) == ("5a-en-1", "A")


def refused(model: type[Input], raw: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as refusal:
        model.model_validate(raw)
    return {".".join(map(str, error["loc"])) for error in refusal.value.errors()}


def example(model: type[Input], **changes: Any) -> dict[str, Any]:
    return {**model.model_json_schema()["examples"][0], **changes}


def shifted(bell: int, **changes: Any) -> dict[str, Any]:
    bells = example(BellScheduleIn)["bells"]
    return example(
        BellScheduleIn, bells=[*bells[:bell], {**bells[bell], **changes}, *bells[bell + 1 :]]
    )


def holidays(**changes: Any) -> dict[str, Any]:
    first = example(SchoolCalendarIn)["non_school_days"][0]
    return example(SchoolCalendarIn, non_school_days=[{**first, **changes}])


@pytest.mark.parametrize(
    ("model", "raw", "field"),
    [
        (GroupIn, example(GroupIn, subject_id=None), "subject_id"),
        (GroupIn, example(GroupIn, group_kind="club"), "group_kind"),
        (GroupIn, example(GroupIn, student_ids=["st-1", "st-1"]), "student_ids"),
        (GroupIn, example(GroupIn, student_ids=[f"st-{n}" for n in range(101)]), "student_ids"),
        (GroupIn, example(GroupIn, class_id="5 a"), "class_id"),
        (
            IndividualCurriculumIn,
            example(IndividualCurriculumIn, education_level="middle"),
            "education_level",
        ),
        (
            IndividualCurriculumIn,
            example(IndividualCurriculumIn, school_year="2026/2028"),
            "school_year",
        ),
        (
            IndividualCurriculumIn,
            example(IndividualCurriculumIn, valid_to="2026-08-01"),
            "valid_to",
        ),
        (IndividualCurriculumIn, example(IndividualCurriculumIn, subjects=[]), "subjects"),
        (
            IndividualCurriculumIn,
            example(IndividualCurriculumIn, subjects=[{"subject_id": "math"}] * 2),
            "subjects",
        ),
        (BellScheduleIn, shifted(0, ends_at="08:00"), "bells.0.ends_at"),
        (BellScheduleIn, shifted(0, lesson_number=13), "bells.0.lesson_number"),
        (BellScheduleIn, shifted(1, starts_at="09:00"), "bells"),
        (BellScheduleIn, shifted(1, lesson_number=1), "bells"),
        (
            BellScheduleIn,
            example(BellScheduleIn, education_levels=["basic", "basic"]),
            "education_levels",
        ),
        (
            SchoolCalendarIn,
            example(SchoolCalendarIn, weeks_alternate_from="2026-09-01"),
            "weeks_alternate_from",
        ),
        (SchoolCalendarIn, example(SchoolCalendarIn, ends_on="2026-08-01"), "ends_on"),
        (SchoolCalendarIn, holidays(ends_on="2026-10-01"), "non_school_days.0.ends_on"),
        (SchoolCalendarIn, holidays(ends_on="2027-06-30"), "non_school_days"),
        (SchoolCalendarIn, holidays(days_kind="weekend"), "non_school_days.0.days_kind"),
        (
            SchoolCalendarIn,
            holidays(education_levels=["kindergarten"]),
            "non_school_days.0.education_levels.0",
        ),
    ],
)
def test_each_reference_rule_is_refused_naming_its_field(
    model: type[Input], raw: dict[str, Any], field: str
) -> None:
    assert field in refused(model, raw)


def test_alternating_weeks_start_on_a_monday() -> None:
    calendar = SchoolCalendarIn.model_validate(
        example(SchoolCalendarIn, weeks_alternate_from="2026-08-31")
    )
    assert calendar.weeks_alternate_from == date(2026, 8, 31)
