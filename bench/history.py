"""History for the benchmark's second round: notices already delivered, written straight into
the stores the way the services write them (journal records, consent decisions, deliveries and
inbox messages), so that the round measures the pipeline with a district's past behind it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bench.district import District
from schemas import MarkPosted
from schemas.journal import MarkPostedPayload
from services.consent.domain import (
    Consent,
    Contact,
    Preferences,
    Recipient,
    RecipientFile,
    notification_requests,
)
from services.consent.store import decision_document
from services.notifier.schedule import Pending
from services.notifier.store import delivery_document
from services.shared.mongo import Document

CHUNK = 1000


async def seed(
    mongo: AsyncMongoClient[Document], prefix: str, district: District, notices: int, *, say: Any
) -> None:
    """About `notices` delivered notices (an e-mail and an inbox message per mark)."""
    databases = {
        name: mongo[f"{prefix.strip('.')}_{name}"] for name in ("grades", "consent", "notifier")
    }
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=30)
    batch: dict[str, list[Document]] = {
        "records": [],
        "decisions": [],
        "deliveries": [],
        "inbox": [],
    }
    written = 0
    students = district.students
    n = 0
    while written < notices:
        school, student = students[n % len(students)]
        mark_id = f"past-{n}"
        n += 1
        payload = MarkPostedPayload(
            school_id=school.school_id,
            student_id=student.student_id,
            student_name=f"Ученик {student.student_id}",
            class_name="5А",
            mark_id=mark_id,
            subject_id="subject-00",
            subject_name="Предмет 1",
            teacher_name="Учитель",
            lesson_date=long_ago.date(),
            value="4",
            work_type="ответ на уроке",
            weight=1.0,
        )
        event = MarkPosted.new(payload, producer="grades", occurred_at=long_ago)
        batch["records"].append(
            {
                "_id": f"{school.school_id}/mark/{mark_id}",
                "school_id": school.school_id,
                "kind": "mark",
                "record_id": mark_id,
                "student_id": student.student_id,
                "state": {
                    "kind": "mark",
                    "mark_id": mark_id,
                    "student_id": student.student_id,
                    "subject_id": "subject-00",
                    "teacher_id": "t-1",
                    "lesson_date": long_ago.date().isoformat(),
                    "value": "4",
                    "work_type": "ответ на уроке",
                    "weight": 1.0,
                    "comment": None,
                },
                "retracted": False,
                "version": 1,
                "updated_at": long_ago,
                "pending_events": [],
            }
        )
        guardian = f"g-{student.student_id}"
        file = RecipientFile(
            recipient=Recipient(
                guardian, school.school_id, "Родитель", "guardian", (student.student_id,)
            ),
            consent=Consent(
                f"c-{guardian}",
                school.school_id,
                guardian,
                student.student_id,
                "granted",
                long_ago.date(),
                None,
                long_ago,
            ),
            contacts={"email": Contact("email", f"{guardian}@example.org", "written")},
            preferences=Preferences(),
        )
        requests, decisions = notification_requests(event, [file], long_ago)
        batch["decisions"] += [decision_document(event, d, long_ago) for d in decisions]
        for request in requests:
            p = request.payload
            delivery = delivery_document(Pending(request, 0, 1, long_ago, "sent"), long_ago)
            del delivery["queue"]  # ended: out of its partition's queue
            delivery["finished_at"] = long_ago
            delivery["message_id"] = f"<{uuid.uuid4().hex}@vestnik.local>"
            batch["deliveries"].append(delivery)
            if p.channel == "inbox":
                batch["inbox"].append(
                    {
                        "_id": p.dedupe_key,
                        "school_id": school.school_id,
                        "recipient_id": p.recipient_id,
                        "student_id": p.student_id,
                        "category": p.category,
                        "subject": "Новая оценка",
                        "text": "…",
                        "created_at": long_ago,
                        "read": True,
                    }
                )
            written += 1
        if len(batch["deliveries"]) >= CHUNK:
            await _flush(databases, batch)
            say(f"  history: {written} notices written")
    await _flush(databases, batch)


async def _flush(databases: dict[str, Any], batch: dict[str, list[Document]]) -> None:
    where = {
        "records": "grades",
        "decisions": "consent",
        "deliveries": "notifier",
        "inbox": "notifier",
    }
    for collection, documents in batch.items():
        if documents:
            await databases[where[collection]][collection].insert_many(documents, ordered=False)
            documents.clear()
