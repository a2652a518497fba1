"""In-memory stand-ins for the ports, for unit tests of the domain only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from schemas import Envelope, NotificationRequested, NotificationSent
from services.grades.domain import Change, EntryKey, Stored
from services.grades.facts import ReferenceBook
from services.notifier.domain import DeliveryStatus


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
    def __init__(self) -> None:
        self.status: dict[str, DeliveryStatus] = {}

    async def claim(self, request: NotificationRequested) -> DeliveryStatus:
        return self.status.setdefault(request.payload.dedupe_key, "queued")

    async def mark_sent(self, dedupe_key: str, message_id: str, sent_at: datetime) -> None:
        self.status[dedupe_key] = "sent"


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[NotificationRequested, str]] = []

    async def send(self, request: NotificationRequested, message_id: str) -> None:
        self.sent.append((request, message_id))


class StatusLog:
    def __init__(self) -> None:
        self.published: list[NotificationSent] = []

    async def __call__(self, event: NotificationSent) -> None:
        self.published.append(event)
