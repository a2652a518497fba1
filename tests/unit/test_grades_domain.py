from __future__ import annotations

from datetime import date

import pytest

from services.grades.domain import (
    Mark,
    MarkConflictError,
    Student,
    Subject,
    Teacher,
    UnknownReferenceError,
    post_mark,
)
from tests.fakes import FakeGradesStore


@pytest.fixture
def store() -> FakeGradesStore:
    store = FakeGradesStore()
    store.students["s1", "st-1"] = Student("st-1", "s1", "Иванов Иван", "5А")
    store.subjects["s1", "math"] = Subject("math", "s1", "Математика")
    store.teachers["s1", "t-1"] = Teacher("t-1", "s1", "Петрова Анна Сергеевна")
    return store


def a_mark(**changes: object) -> Mark:
    fields: dict[str, object] = {
        "mark_id": "m-1",
        "school_id": "s1",
        "student_id": "st-1",
        "subject_id": "math",
        "teacher_id": "t-1",
        "lesson_date": date(2026, 11, 27),
        "value": "4",
        "work_type": "самостоятельная работа",
        "weight": 1.0,
    }
    return Mark(**{**fields, **changes})  # type: ignore[arg-type]


async def test_an_accepted_mark_carries_the_names_a_notification_needs(
    store: FakeGradesStore,
) -> None:
    assert await post_mark(a_mark(), store=store) == "accepted"
    [event] = store.outbox
    assert event.payload.student_name == "Иванов Иван"
    assert event.payload.subject_name == "Математика"
    assert event.payload.teacher_name == "Петрова Анна Сергеевна"
    assert event.payload.class_name == "5А"
    assert event.producer == "grades"


async def test_the_same_mark_again_is_a_duplicate_and_publishes_nothing(
    store: FakeGradesStore,
) -> None:
    await post_mark(a_mark(), store=store)
    assert await post_mark(a_mark(), store=store) == "duplicate"
    assert len(store.outbox) == 1


async def test_other_content_under_a_known_id_is_a_conflict(store: FakeGradesStore) -> None:
    await post_mark(a_mark(), store=store)
    with pytest.raises(MarkConflictError):
        await post_mark(a_mark(value="5"), store=store)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"student_id": "nobody"}, "student_id"),
        ({"subject_id": "latin"}, "subject_id"),
        ({"teacher_id": "t-9"}, "teacher_id"),
        # A student of another school is as unknown as one who does not exist.
        ({"school_id": "s2"}, "student_id"),
    ],
)
async def test_unknown_references_name_their_field(
    store: FakeGradesStore, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(UnknownReferenceError) as raised:
        await post_mark(a_mark(**changes), store=store)
    assert raised.value.field == field
    assert store.outbox == []
