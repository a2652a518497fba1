"""The envelope every event travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Payload(BaseModel):
    """Base of every payload: immutable, and unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def partition_key(self) -> str:
        """What keeps related events in order on one partition."""
        raise NotImplementedError


class StudentPayload(Payload):
    """A fact about one student: keyed by the student, so their events stay in order."""

    student_id: str = Field(min_length=1)

    @property
    def partition_key(self) -> str:
        return self.student_id


class SchoolPayload(Payload):
    """A fact about a school's reference data: keyed by the school."""

    school_id: str = Field(min_length=1)

    @property
    def partition_key(self) -> str:
        return self.school_id


class ClassPayload(Payload):
    """A fact about a class or a group in it (its timetable, its tests, its homework): keyed
    by school and class, so a class's facts stay in order and two schools' `5a` stay apart
    (journal ids never contain '/')."""

    school_id: str = Field(min_length=1)
    class_id: str = Field(min_length=1)

    @property
    def partition_key(self) -> str:
        return f"{self.school_id}/{self.class_id}"


P = TypeVar("P", bound=Payload)


# The fixed metadata of the examples in the JSON Schemas and AsyncAPI documents.
EXAMPLE_ID = uuid.UUID("0b6f3a52-1c2d-4e8f-9a0b-3c4d5e6f7a8b")
EXAMPLE_AT = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)


def _add_example(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """An event type with an `example_payload` shows itself, enveloped, in its JSON Schema:
    the exported files in `schemas/json/` and every service's AsyncAPI document."""
    payload = getattr(cls, "example_payload", None)
    if payload is None:
        return
    event = cls.model_validate(
        {
            "event_id": EXAMPLE_ID,
            "type": cls.model_fields["type"].default,
            "version": cls.model_fields["version"].default,
            "occurred_at": EXAMPLE_AT,
            "recorded_at": EXAMPLE_AT,
            "producer": getattr(cls, "example_producer", "grades"),
            "correlation_id": EXAMPLE_ID,
            "payload": payload,
        }
    )
    schema["examples"] = [event.model_dump(mode="json")]


class Envelope(BaseModel, Generic[P]):
    """Metadata around a typed payload. Subclasses pin `type` and `version` with Literals."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_add_example)

    # The topic an event type belongs to; set by each subclass.
    topic: ClassVar[str]
    # What its documentation shows (validated when shown: an example can never drift).
    example_payload: ClassVar[dict[str, Any] | None] = None

    event_id: uuid.UUID = Field(description="Unique per event; consumers deduplicate on it.")
    type: str
    version: int
    occurred_at: AwareDatetime = Field(description="When it happened in the school.")
    recorded_at: AwareDatetime = Field(description="When Vestnik recorded it.")
    producer: str = Field(min_length=1, description="The service that published it.")
    correlation_id: uuid.UUID = Field(description="Shared by every event caused by one input.")
    payload: P

    @classmethod
    def new(
        cls,
        payload: P,
        *,
        producer: str,
        occurred_at: datetime | None = None,
        correlation_id: uuid.UUID | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Self:
        """`event_id`: given only where the same fact must always be the same event."""
        now = datetime.now(UTC)
        event_id = event_id or uuid.uuid4()
        fields: dict[str, Any] = {
            "event_id": event_id,
            "occurred_at": occurred_at or now,
            "recorded_at": now,
            "producer": producer,
            "correlation_id": correlation_id or event_id,
            "payload": payload,
        }
        return cls(**fields)

    @property
    def key(self) -> bytes:
        """The Kafka message key."""
        return self.payload.partition_key.encode()
