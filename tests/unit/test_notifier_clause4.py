"""Clause 4's notices in Russian: every kind renders its subject, text and SMS (two segments at
most), naming the children, the class and group, the day, the lesson and the reason."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schemas import NotificationRequested
from schemas.classwork import (
    AssessmentCancelled,
    AssessmentPlanned,
    AssessmentRescheduled,
    HomeworkAssigned,
    HomeworkCorrected,
    HomeworkRetracted,
    RecommendationCorrected,
    RecommendationPosted,
    RecommendationRetracted,
)
from schemas.notify import NotificationRequestedPayload
from schemas.timetable import LessonChangeCorrected, LessonChangePosted, LessonChangeRetracted
from services.notifier.rendering import (
    MAX_SMS_SEGMENTS,
    create_environment,
    render_email,
    render_sms,
)
from services.shared.russian import ru_day

CLAUSE_4 = (
    LessonChangePosted,
    LessonChangeCorrected,
    LessonChangeRetracted,
    AssessmentPlanned,
    AssessmentRescheduled,
    AssessmentCancelled,
    HomeworkAssigned,
    HomeworkCorrected,
    HomeworkRetracted,
    RecommendationPosted,
    RecommendationCorrected,
    RecommendationRetracted,
)
SIBLINGS = ("Иванов Иван", "Иванова Мария")


def a_request(event_type: Any, channel: str = "email", **changes: Any) -> NotificationRequested:
    payload_type = event_type.model_fields["payload"].annotation
    content = payload_type(**{**event_type.example_payload, **changes})
    class_fact = not hasattr(content, "student_id")
    return NotificationRequested.new(
        NotificationRequestedPayload(
            student_id="st-1",
            dedupe_key=f"e:g-1:{channel}",
            source_event_id=uuid.uuid4(),
            recipient_id="g-1",
            recipient_name="Иванова Елена",
            channel=channel,  # type: ignore[arg-type]
            address=None,
            category="lesson_changes",
            content=content,
            student_ids=("st-1", "st-4") if class_fact else (),
            student_names=SIBLINGS if class_fact else (),
        ),
        producer="consent",
    )


@pytest.mark.parametrize("event_type", CLAUSE_4, ids=lambda e: e.__name__)
def test_every_clause_4_kind_renders_in_russian_within_two_sms_segments(event_type: Any) -> None:
    env = create_environment()
    email = render_email(env, a_request(event_type))
    sms, segments = render_sms(env, a_request(event_type, "sms"))
    assert email.subject and "\n" not in email.subject
    assert email.text.startswith("Здравствуйте, Иванова Елена!")
    assert "{" not in email.text and "None" not in email.text + sms
    assert segments <= MAX_SMS_SEGMENTS and not sms.endswith("…"), sms
    fact = event_type.example_payload
    if "class_name" in fact and "student_id" not in fact:
        for name in SIBLINGS:
            assert name in email.text
        assert "5А" in email.subject
        assert fact.get("group_name", "5А") in email.subject
    else:
        assert "Иванов Иван" in email.subject and fact["text"] in email.text


def test_a_substitution_names_the_class_group_day_lesson_teachers_and_reason() -> None:
    email = render_email(create_environment(), a_request(LessonChangePosted))
    assert email.subject == (
        "Замена урока: Английский язык, вт, 1 декабря, 2-й урок (5А, Английский, группа 1)"
    )
    assert "Иванов Иван, Иванова Мария (5А, Английский, группа 1): замена урока." in email.text
    assert "Урок: «Английский язык», вт, 1 декабря, 2-й урок." in email.text
    assert "Учитель по расписанию: Белова Ирина Олеговна." in email.text
    assert "Заменяет: Грин Джон." in email.text
    assert "Причина: болезнь учителя." in email.text


def test_a_move_says_where_the_lesson_goes() -> None:
    move = a_request(
        LessonChangePosted,
        change="move",
        substitute_teacher_name=None,
        new_date="2026-12-03",
        new_lesson_number=5,
        new_room="214",
    )
    env = create_environment()
    assert "Новое время: чт, 3 декабря, 5-й урок, кабинет 214." in render_email(env, move).text
    sms, _ = render_sms(env, a_request(LessonChangePosted, "sms", **_move()))
    assert sms == (
        "Иванов Иван, Иванова Мария: перенос — Английский язык 01.12, урок 2 → 03.12, урок 5, "
        "каб. 214. Причина: болезнь учителя"
    )


def _move() -> dict[str, Any]:
    return {
        "change": "move",
        "substitute_teacher_name": None,
        "new_date": "2026-12-03",
        "new_lesson_number": 5,
        "new_room": "214",
    }


def test_long_homework_is_shortened_in_the_sms_and_whole_in_the_email() -> None:
    text = "Прочитать параграф 12 и ответить письменно на вопросы 1–8 на странице 64. " * 4
    env = create_environment()
    sms, segments = render_sms(env, a_request(HomeworkAssigned, "sms", text=text))
    assert segments <= MAX_SMS_SEGMENTS and "…" in sms
    assert text.strip() in render_email(env, a_request(HomeworkAssigned, text=text)).text


def test_a_national_check_keeps_its_abbreviation() -> None:
    email = render_email(
        create_environment(), a_request(AssessmentPlanned, assessment_kind="national_check")
    )
    assert email.subject.startswith("ВПР: Математика, чт, 10 декабря")
    assert "запланирована ВПР." in email.text


def test_ru_day_is_a_short_weekday_and_the_day_of_the_month() -> None:
    from datetime import date

    assert ru_day(date(2026, 12, 1)) == "вт, 1 декабря"
    assert ru_day(date(2027, 1, 10)) == "вс, 10 января"
