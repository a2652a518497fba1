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
from schemas.topics import EVENTS_BY_TOPIC

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
    assert {
        "journal.enrolment.v1",
        "journal.timetable.v1",
        "journal.lesson-changes.v1",
        "journal.calendar.v1",
        "journal.assessments.v1",
        "journal.homework.v1",
        "journal.recommendations.v1",
    } <= set(EVENTS_BY_TOPIC)


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
