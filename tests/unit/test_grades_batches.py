"""Recording a batch: each item answered alone, nothing valid lost, concurrent writers retried."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.grades.domain import Stored
from services.grades.usecases import (
    ForbiddenItemsError,
    SchoolNotRegisteredError,
    record_batch,
)
from tests.builders import a_book, with_colleague
from tests.fakes import FakeGradesStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def raw_mark(mark_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "mark",
        "mark_id": mark_id,
        "student_id": "st-1",
        "subject_id": "math",
        "teacher_id": "t-1",
        "lesson_date": "2026-11-27",
        "value": "5",
        "work_type": "ответ",
        **changes,
    }


async def test_bad_items_are_rejected_alone_and_the_rest_recorded() -> None:
    store = FakeGradesStore(a_book())
    items = [raw_mark(f"m-{n}") for n in range(10)]
    items[2]["value"] = "7"
    items[5] = {"kind": "mark"}
    items[7]["student_id"] = "ghost"

    results = await record_batch("s1", items, store=store, now=NOW)

    assert [r.status for r in results].count("accepted") == 7
    rejected = {r.index: [e.field for e in r.errors] for r in results if r.status == "rejected"}
    assert rejected[2] == ["value"]
    assert "mark_id" in rejected[5]
    assert rejected[7] == ["student_id"]
    assert len(store.outbox) == 7

    again = await record_batch("s1", items, store=store, now=NOW)
    assert [r.status for r in again].count("duplicate") == 7
    assert len(store.outbox) == 7


async def test_one_record_twice_in_a_batch_is_recorded_then_corrected() -> None:
    store = FakeGradesStore(a_book())
    results = await record_batch(
        "s1", [raw_mark("m-1", value="3"), raw_mark("m-1", value="4")], store=store, now=NOW
    )
    assert [r.status for r in results] == ["accepted", "corrected"]
    assert [e.type for e in store.outbox] == ["MarkPosted", "MarkCorrected"]
    assert store.records["s1", ("mark", "m-1")].state["value"] == "4"


async def test_a_concurrent_writer_is_detected_and_the_item_decided_again() -> None:
    store = FakeGradesStore(a_book())
    other = Stored({**raw_mark("m-1", value="2"), "weight": 1.0, "comment": None}, version=1)

    def someone_else_writes_first() -> None:
        store.records.setdefault(("s1", ("mark", "m-1")), other)

    store.interfere = someone_else_writes_first
    [result] = await record_batch("s1", [raw_mark("m-1", value="5")], store=store, now=NOW)
    assert result.status == "corrected"
    [event] = store.outbox
    assert event.type == "MarkCorrected"
    assert event.payload.previous_value == "2"


async def test_a_teacher_batch_with_a_foreign_class_is_refused_whole() -> None:
    store = FakeGradesStore(a_book())
    with pytest.raises(ForbiddenItemsError) as refused:
        await record_batch(
            "s1",
            [raw_mark("m-1"), raw_mark("m-2", student_id="ghost")],
            store=store,
            now=NOW,
            teacher_id="t-1",
        )
    assert refused.value.indexes == [1]
    assert store.outbox == []


async def test_nothing_is_recorded_for_an_unregistered_school() -> None:
    with pytest.raises(SchoolNotRegisteredError):
        await record_batch("s1", [raw_mark("m-1")], store=FakeGradesStore(None), now=NOW)


async def test_a_teacher_cannot_overwrite_a_colleagues_record_by_its_id() -> None:
    store = FakeGradesStore(with_colleague(a_book()))
    await record_batch("s1", [raw_mark("m-1", value="5")], store=store, now=NOW)
    for colleague_item in (
        raw_mark("m-1", teacher_id="t-3", value="2"),
        {"kind": "mark_retraction", "mark_id": "m-1"},
    ):
        with pytest.raises(ForbiddenItemsError) as refused:
            await record_batch("s1", [colleague_item], store=store, now=NOW, teacher_id="t-3")
        assert refused.value.indexes == [0]
        assert "mark_id" in str(refused.value)
    assert store.records["s1", ("mark", "m-1")].state["value"] == "5"
    assert [e.type for e in store.outbox] == ["MarkPosted"]


async def test_a_colleague_writing_the_same_id_meanwhile_is_caught_on_the_retry() -> None:
    """The teacher's batch found no record, then lost the insert to a colleague's mark."""
    store = FakeGradesStore(with_colleague(a_book()))
    colleagues = Stored({**raw_mark("m-1", teacher_id="t-3"), "weight": 1.0}, version=1)
    store.interfere = lambda: store.records.setdefault(("s1", ("mark", "m-1")), colleagues)
    [result] = await record_batch(
        "s1", [raw_mark("m-1", value="2")], store=store, now=NOW, teacher_id="t-1"
    )
    assert result.status == "rejected"
    assert result.errors[0].field == "mark_id"
    assert store.records["s1", ("mark", "m-1")] is colleagues
