"""In-memory stand-ins for the ports, for unit tests of the domain only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas import Envelope, NotificationRequested
from services.grades.domain import Change, EntryKey, Stored
from services.grades.facts import ReferenceBook
from services.notifier.domain import Delivery, Status


class FakeGradesStore:
    """Records by (school, key) with versions, like the real store's optimistic writes."""

    def __init__(self, book: ReferenceBook | None) -> None:
        self.book = book
        self.records: dict[tuple[str, EntryKey], Stored] = {}
        self.outbox: list[Envelope[Any]] = []
        self.interfere: Callable[[], None] = lambda: None

    async def reference_book(self, school_id: str) -> ReferenceBook | None:
        return self.book

    async def load(self, school_id: str, keys: list[EntryKey]) -> dict[EntryKey, Stored]:
        found = ((key, self.records.get((school_id, key))) for key in keys)
        return {key: stored for key, stored in found if stored is not None}

    async def save(self, school_id: str, changes: list[Change]) -> set[EntryKey]:
        self.interfere()
        conflicts = set()
        for change in changes:
            current = self.records.get((school_id, change.key))
            if (current.version if current else 0) != (
                change.before.version if change.before else 0
            ):
                conflicts.add(change.key)
                continue
            self.records[school_id, change.key] = change.after
            self.outbox.extend(change.events)
        return conflicts


class FakeDeliveries:
    """Delivery records in memory, with the real store's claim rules."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    async def accept(
        self, request: NotificationRequested, now: datetime, *, start_at: datetime
    ) -> bool:
        key = request.payload.dedupe_key
        if key in self.records:
            return False
        self.records[key] = {"request": request, "status": "queued", "attempts": 0, "due": start_at}
        return True

    def _of(self, source_event_id: str, recipient_id: str) -> list[dict[str, Any]]:
        return [
            record
            for record in self.records.values()
            if str(record["request"].payload.source_event_id) == source_event_id
            and record["request"].payload.recipient_id == recipient_id
        ]

    async def siblings(self, source_event_id: str, recipient_id: str) -> dict[str, Status]:
        return {
            record["request"].payload.channel: record["status"]
            for record in self._of(source_event_id, recipient_id)
        }

    async def bring_forward(
        self, source_event_id: str, recipient_id: str, channels: tuple[str, ...], now: datetime
    ) -> None:
        for record in self._of(source_event_id, recipient_id):
            waiting = record["status"] == "queued" and record["due"] > now
            if waiting and record["request"].payload.channel in channels:
                record["due"] = now

    async def claim(self, dedupe_key: str, now: datetime) -> Delivery | None:
        record = self.records.get(dedupe_key)
        if (
            record is None
            or record["status"] not in ("queued", "retry_wait")
            or record["due"] > now
        ):
            return None
        record.update(status="sending", attempts=record["attempts"] + 1)
        return Delivery(record["request"], "sending", record["attempts"])

    async def finish(self, dedupe_key: str, status: Status, now: datetime, **fields: Any) -> None:
        self.records[dedupe_key].update(status=status, **fields)

    async def retry_at(self, dedupe_key: str, when: datetime, error: str) -> None:
        self.records[dedupe_key].update(status="retry_wait", due=when, last_error=error)

    async def postpone(self, dedupe_key: str, until: datetime) -> None:
        record = self.records[dedupe_key]
        record.update(status="retry_wait", due=until, attempts=record["attempts"] - 1)


class ScriptedSender:
    """Fails as told (a list of exceptions, in order), then succeeds; remembers what it sent."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[NotificationRequested, str]] = []

    async def send(self, request: NotificationRequested, message_id: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((request, message_id))


class FakeConsentView:
    def __init__(self) -> None:
        self.refusals: dict[tuple[str, str], str] = {}

    async def why_not(self, request: NotificationRequested) -> str | None:
        return self.refusals.get((request.payload.recipient_id, request.payload.student_id))


class EventLog:
    def __init__(self) -> None:
        self.published: list[Envelope[Any]] = []

    async def __call__(self, event: Envelope[Any]) -> None:
        self.published.append(event)


class FakeZones:
    def __init__(self, zones: dict[str, ZoneInfo], default: ZoneInfo) -> None:
        self.zones = zones
        self.default = default

    async def zone(self, school_id: str) -> ZoneInfo:
        return self.zones.get(school_id, self.default)
