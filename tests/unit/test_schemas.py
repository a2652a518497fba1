"""The event contracts: exported schemas match the models, and bad messages are rejected."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from schemas import MarkPosted
from schemas.export import render_schema, schema_file
from schemas.topics import ALL_EVENTS, CLAUSE_4_TOPICS, CLAUSE_7_TOPICS, EVENTS_BY_TOPIC
from tests.builders import a_mark_posted


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_exported_schema_matches_the_model(event: type) -> None:
    path = schema_file(event)
    assert path.exists(), f"{path.name} missing: run `vestnik schemas export`"
    assert path.read_text(encoding="utf-8") == render_schema(event), (
        f"{path.name} differs from {event.__name__}: run `vestnik schemas export` and review"
    )


def test_every_schema_file_belongs_to_a_model() -> None:
    exported = {schema_file(event).name for event in ALL_EVENTS}
    on_disk = {path.name for path in schema_file(ALL_EVENTS[0]).parent.glob("*.json")}
    assert on_disk == exported


@pytest.mark.parametrize(
    "event",
    [event for topic in (*CLAUSE_4_TOPICS, *CLAUSE_7_TOPICS) for event in EVENTS_BY_TOPIC[topic]],
    ids=lambda e: e.__name__,
)
def test_every_clause_4_and_7_event_documents_an_example_that_is_itself_valid(event: type) -> None:
    [example] = json.loads(render_schema(event))["examples"]
    assert event.model_validate(example).type == event.__name__  # type: ignore[attr-defined]


def test_topics_are_versioned() -> None:
    assert all(topic.endswith(".v1") for topic in EVENTS_BY_TOPIC)


def test_an_event_survives_the_wire() -> None:
    event = MarkPosted.new(a_mark_posted(), producer="grades")
    assert MarkPosted.model_validate_json(event.model_dump_json()) == event
    assert event.key == b"st-1"
    assert event.correlation_id == event.event_id


def test_unknown_fields_are_rejected_not_dropped() -> None:
    wire = json.loads(MarkPosted.new(a_mark_posted(), producer="grades").model_dump_json())
    wire["payload"]["surprise"] = 1
    with pytest.raises(ValidationError, match=r"payload\.surprise"):
        MarkPosted.model_validate(wire)


def test_another_event_type_is_rejected() -> None:
    wire = json.loads(MarkPosted.new(a_mark_posted(), producer="grades").model_dump_json())
    wire["type"] = "MarkRetracted"
    with pytest.raises(ValidationError, match="type"):
        MarkPosted.model_validate(wire)


@pytest.mark.parametrize("value", ["6", "0", "", "отлично"])
def test_mark_values_follow_the_russian_scale(value: str) -> None:
    with pytest.raises(ValidationError, match="value"):
        a_mark_posted(value=value)


def test_naive_timestamps_are_rejected() -> None:
    wire = json.loads(MarkPosted.new(a_mark_posted(), producer="grades").model_dump_json())
    wire["occurred_at"] = "2026-11-27T10:00:00"
    with pytest.raises(ValidationError, match="occurred_at"):
        MarkPosted.model_validate(wire)


def test_events_are_immutable() -> None:
    event = MarkPosted.new(a_mark_posted(), producer="grades")
    with pytest.raises(ValidationError):
        event.event_id = uuid.uuid4()  # type: ignore[misc]
