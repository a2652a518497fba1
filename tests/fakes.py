"""In-memory stand-ins for the ports, for unit tests of the domain only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas import Envelope, NotificationRequested
from schemas.notify import DeadlineMissed
from services.grades.domain import Change, EntryKey, Stored
from services.grades.facts import ReferenceBook
from services.notifier.domain import UNFINISHED, Status
from services.notifier.schedule import Pending
from services.notifier.store import Recorded


class EventLog:
    def __init__(self) -> None:
        self.published: list[Envelope[Any]] = []

    async def __call__(self, events: Sequence[Envelope[Any]]) -> None:
        self.published.extend(events)


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
    """Delivery records in memory, insert-once by dedupe key like the real store."""

    def __init__(self, outbox: EventLog | None = None) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        # Runs while an insert is under way, as other work would on the real store.
        self.during_insert: Callable[[], Awaitable[None]] | None = None
        # Where the status events written with the outcomes go (the relay, at once).
        self.outbox = outbox or EventLog()

    async def insert_new(self, pending: list[Pending], now: datetime) -> list[bool]:
        if self.during_insert is not None:
            await self.during_insert()
        new = []
        for item in pending:
            known = item.key in self.records
            if not known:
                self.records[item.key] = {
                    "request": item.request,
                    "status": item.status,
                    "attempts": item.attempts,
                    "due": item.due,
                    "partition": item.partition,
                    "open": True,
                }
            new.append(not known)
        return new

    async def record(self, outcomes: list[Recorded]) -> None:
        for outcome in outcomes:
            record = self.records[outcome.key]
            record.update(status=outcome.status, attempts=outcome.attempts, due=outcome.due)
            record["open"] = outcome.status in UNFINISHED or outcome.watched
            if outcome.reason is not None:
                record["last_error"] = outcome.reason
            self.outbox.published.extend(outcome.events)

    async def status_of(self, keys: list[str]) -> dict[str, Status]:
        return {key: self.records[key]["status"] for key in keys if key in self.records}

    async def open_in(self, partition: int) -> list[Pending]:
        return [
            Pending(r["request"], partition, r["attempts"], r["due"], r["status"])
            for r in self.records.values()
            if r["partition"] == partition and r["open"]
        ]


class ScriptedSender:
    """Fails as told (a list of exceptions, in order), then succeeds; remembers what it sent."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[NotificationRequested, str]] = []

    async def send_batch(
        self, messages: list[tuple[NotificationRequested, str]]
    ) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for request, message_id in messages:
            if self.failures:
                outcomes.append(self.failures.pop(0))
            else:
                self.sent.append((request, message_id))
                outcomes.append(None)
        return outcomes


class FakeConsentView:
    """Refusals by (school, recipient, student), like the real view: journals reuse ids."""

    def __init__(self) -> None:
        self.refused: dict[tuple[str, str, str], str] = {}

    async def refusals(self, requests: list[NotificationRequested]) -> dict[str, str]:
        return {
            r.payload.dedupe_key: reason
            for r in requests
            if (
                reason := self.refused.get(
                    (r.payload.content.school_id, r.payload.recipient_id, r.payload.student_id)
                )
            )
        }


class FakeMisses:
    def __init__(self, outbox: EventLog | None = None) -> None:
        self.records: dict[str, DeadlineMissed] = {}
        self.outbox = outbox or EventLog()

    async def record(self, misses: list[DeadlineMissed]) -> list[bool]:
        new = []
        for miss in misses:
            key = f"{miss.payload.source_event_id}:{miss.payload.recipient_id}"
            new.append(key not in self.records)
            if new[-1]:
                self.records[key] = miss
                self.outbox.published.append(miss)
        return new


class FakeZones:
    def __init__(self, zones: dict[str, ZoneInfo], default: ZoneInfo) -> None:
        self.zones = zones
        self.default = default

    async def zone(self, school_id: str) -> ZoneInfo:
        return self.zones.get(school_id, self.default)
