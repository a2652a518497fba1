"""In-memory stand-ins for the ports, for unit tests of the domain only."""

from __future__ import annotations

from datetime import datetime

from schemas import MarkPosted, NotificationRequested, NotificationSent
from services.grades.domain import Mark, MarkConflictError, MarkOutcome, Student, Subject, Teacher
from services.notifier.domain import DeliveryStatus


class FakeGradesStore:
    def __init__(self) -> None:
        self.students: dict[tuple[str, str], Student] = {}
        self.subjects: dict[tuple[str, str], Subject] = {}
        self.teachers: dict[tuple[str, str], Teacher] = {}
        self.marks: dict[tuple[str, str], Mark] = {}
        self.outbox: list[MarkPosted] = []

    async def student(self, school_id: str, student_id: str) -> Student | None:
        return self.students.get((school_id, student_id))

    async def subject(self, school_id: str, subject_id: str) -> Subject | None:
        return self.subjects.get((school_id, subject_id))

    async def teacher(self, school_id: str, teacher_id: str) -> Teacher | None:
        return self.teachers.get((school_id, teacher_id))

    async def add_mark(self, mark: Mark, event: MarkPosted) -> MarkOutcome:
        key = (mark.school_id, mark.mark_id)
        if key in self.marks:
            if self.marks[key] == mark:
                return "duplicate"
            raise MarkConflictError(mark.mark_id)
        self.marks[key] = mark
        self.outbox.append(event)
        return "accepted"


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
