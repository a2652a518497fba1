"""Whole example events of clause 4 for the AsyncAPI document, built by the service's own rules
from the OpenAPI examples of what the journal sends: what a consumer reads is exactly what
the examples of the journal's input become (and a change of either keeps them in step)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from schemas import Envelope
from services.grades import week_facts
from services.grades.facts import Context, ReferenceBook
from services.grades.items import AssignmentIn, ClassIn, PeriodIn, SchoolIn, StudentIn, SubjectIn
from services.grades.items import TeacherIn as Teacher
from services.grades.week_domain import RECORDS
from services.grades.week_examples import WEEK_ITEM_EXAMPLES
from services.grades.week_items import parse_week_item
from services.grades.week_references import (
    BellScheduleIn,
    GroupIn,
    IndividualCurriculumIn,
    SchoolCalendarIn,
)

EXAMPLE_MOMENT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# Only for the examples: a stable id reads better than a fresh one on every request.
EXAMPLE_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
# How an example item is corrected (field → new value), for the `…Corrected` examples.
CORRECTIONS: dict[str, dict[str, Any]] = {
    "timetable_lesson": {"room": "215"},
    "lesson_change": {"reason": "учитель на курсах повышения квалификации"},
    "assessment": {"assessment_date": "2026-12-11"},
    "homework": {"due_on": "2026-12-03"},
    "recommendation": {"text": "Повторить таблицу умножения на 7, 8 и 9"},
}


def _example_book() -> ReferenceBook:
    def example(model: Any) -> Any:
        return model.model_validate(model.model_config["json_schema_extra"]["examples"][0])

    teacher = Teacher(
        name="Петрова Анна Сергеевна",
        assignments=(AssignmentIn(class_id="5a", subject_id="math"),),
    )
    return ReferenceBook(
        school=SchoolIn(name="МБОУ «Школа № 1»"),
        periods={
            "q2": PeriodIn(
                name="2 четверть",
                period_kind="quarter",
                school_year="2026/2027",
                starts_on=date(2026, 11, 5),
                ends_on=date(2026, 12, 28),
            )
        },
        classes={
            "5a": ClassIn(name="5А", education_level="basic"),
            "1a": ClassIn(name="1А", education_level="primary"),
            "1b": ClassIn(name="1Б", education_level="primary"),
        },
        students={"st-1": StudentIn(name="Иванов Иван", class_id="5a")},
        subjects={
            "math": SubjectIn(name="Математика"),
            "en": SubjectIn(name="Английский язык"),
            "music": SubjectIn(name="Музыка"),
        },
        teachers={
            "t-1": teacher,
            "t-2": Teacher(name="Соколова Елена Викторовна"),
            "t-3": Teacher(name="Сидорова Мария Ивановна"),
        },
        groups={"5a-en-1": example(GroupIn).model_copy(update={"student_ids": ("st-1",)})},
        bell_schedules={"main": example(BellScheduleIn)},
        calendars={"2026": example(SchoolCalendarIn)},
        curricula={"st-1": example(IndividualCurriculumIn)},
    )


def clause_4_examples() -> dict[str, list[Envelope[Any]]]:
    """Example events by type: each item kind posted, corrected and withdrawn, and each
    reference record changed."""
    book = _example_book()
    context = Context(book, "school-1", EXAMPLE_MOMENT, EXAMPLE_ID)
    events: list[Envelope[Any]] = [
        week_facts.reference_event(record_id, record, context, record_version=1)
        for record_id, record in (
            ("5a-en-1", book.groups["5a-en-1"]),
            ("st-1", book.curricula["st-1"]),
            ("main", book.bell_schedules["main"]),
            ("2026", book.calendars["2026"]),
        )
    ]
    done: set[str] = set()
    for raw in WEEK_ITEM_EXAMPLES:
        kind = str(raw["kind"])
        if kind not in RECORDS or kind in done:
            continue
        done.add(kind)
        item = parse_week_item(raw)
        assert not isinstance(item, list), item
        state = item.model_dump(mode="json")
        corrected = parse_week_item({**raw, **CORRECTIONS[kind]})
        assert not isinstance(corrected, list), corrected
        events += [
            week_facts.event_for(item, None, context, record_version=1),
            week_facts.event_for(corrected, state, context, record_version=2),
            week_facts.withdrawal_event(
                kind, corrected, "отменено журналом", context, record_version=3
            ),
        ]
    by_type: dict[str, list[Envelope[Any]]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(
            event.model_copy(update={"event_id": EXAMPLE_ID, "recorded_at": EXAMPLE_MOMENT})
        )
    return by_type
