"""Topic names. A prefix keeps test runs and tenants apart on one broker."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.envelope import Envelope
from schemas.journal import MarkPosted
from schemas.notify import NotificationRequested, NotificationSent

ALL_EVENTS: tuple[type[Envelope], ...] = (MarkPosted, NotificationRequested, NotificationSent)  # type: ignore[type-arg]

EVENTS_BY_TOPIC: dict[str, tuple[type[Envelope], ...]] = {}  # type: ignore[type-arg]
for _event in ALL_EVENTS:
    EVENTS_BY_TOPIC[_event.topic] = (*EVENTS_BY_TOPIC.get(_event.topic, ()), _event)

EVENTS_BY_TYPE: dict[str, type[Envelope]] = {  # type: ignore[type-arg]
    event.model_fields["type"].default: event for event in ALL_EVENTS
}

DEAD_LETTER_SUFFIX = ".dlt"


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def of(self, event: type[Envelope]) -> str:  # type: ignore[type-arg]
        return self.prefix + event.topic

    def dead_letter(self, topic: str) -> str:
        return topic + DEAD_LETTER_SUFFIX
