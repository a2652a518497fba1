"""Delivery records on MongoDB, one per dedupe key (the document `_id`), and the inbox."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas import NotificationRequested
from services.notifier.domain import Delivery, Status
from services.shared.mongo import Document

# A delivery left `sending` this long was interrupted (the process died mid-attempt): its
# outcome is in doubt, and it is tried again with the same Message-ID / SMS client id.
SENDING_LEASE = timedelta(minutes=2)


class MongoDeliveries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db["deliveries"]

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index(
            [("priority", 1), ("status", 1), ("next_attempt_at", 1)]
        )
        await self._deliveries.create_index([("student_id", 1), ("status", 1)])
        await self._deliveries.create_index([("source_event_id", 1), ("recipient_id", 1)])

    async def accept(
        self, request: NotificationRequested, now: datetime, *, start_at: datetime
    ) -> bool:
        """Record a new request as queued, due at `start_at`; False if its dedupe key is known
        already."""
        payload = request.payload
        try:
            await self._deliveries.insert_one(
                {
                    "_id": payload.dedupe_key,
                    "status": "queued",
                    "attempts": 0,
                    "next_attempt_at": start_at,
                    "queued_at": now,
                    "school_id": payload.content.school_id,
                    "student_id": payload.student_id,
                    "recipient_id": payload.recipient_id,
                    "channel": payload.channel,
                    "kind": payload.content.kind,
                    "priority": payload.priority,
                    "deadline": payload.deadline,
                    # Clause 9's clock: a final result is late from when it was obtained.
                    "obtained_at": getattr(payload.content, "obtained_at", None),
                    "source_event_id": str(payload.source_event_id),
                    # Kept whole so that a retry after a restart needs nothing else.
                    "request": request.model_dump(mode="json"),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def claim(self, dedupe_key: str, now: datetime) -> Delivery | None:
        """Take a due delivery for one attempt (atomically: one claimant wins)."""
        doc = await self._deliveries.find_one_and_update(
            {
                "_id": dedupe_key,
                "$or": [
                    {"status": {"$in": ["queued", "retry_wait"]}, "next_attempt_at": {"$lte": now}},
                    {"status": "sending", "claimed_at": {"$lte": now - SENDING_LEASE}},
                ],
            },
            {"$set": {"status": "sending", "claimed_at": now}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        request = NotificationRequested.model_validate(doc["request"])
        return Delivery(request, doc["status"], doc["attempts"])

    async def retry_at(self, dedupe_key: str, when: datetime, error: str) -> None:
        await self._deliveries.update_one(
            {"_id": dedupe_key},
            {"$set": {"status": "retry_wait", "next_attempt_at": when, "last_error": error}},
        )

    async def postpone(self, dedupe_key: str, until: datetime) -> None:
        """Hold for quiet hours: not a failed attempt, so it does not count as one."""
        await self._deliveries.update_one(
            {"_id": dedupe_key},
            {"$set": {"status": "retry_wait", "next_attempt_at": until, "held": "quiet hours"},
             "$inc": {"attempts": -1}},
        )  # fmt: skip

    async def siblings(self, source_event_id: str, recipient_id: str) -> dict[str, Status]:
        """The status of each channel telling this recipient about this event."""
        cursor = self._deliveries.find(
            {"source_event_id": source_event_id, "recipient_id": recipient_id},
            {"channel": 1, "status": 1},
        )
        return {doc["channel"]: doc["status"] async for doc in cursor}

    async def bring_forward(
        self, source_event_id: str, recipient_id: str, channels: tuple[str, ...], now: datetime
    ) -> None:
        await self._deliveries.update_many(
            {"source_event_id": source_event_id, "recipient_id": recipient_id,
             "channel": {"$in": list(channels)}, "status": "queued",
             "next_attempt_at": {"$gt": now}},
            {"$set": {"next_attempt_at": now}},
        )  # fmt: skip

    async def finish(self, dedupe_key: str, status: Status, now: datetime, **fields: Any) -> None:
        await self._deliveries.update_one(
            {"_id": dedupe_key}, {"$set": {"status": status, "finished_at": now, **fields}}
        )

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Deliveries to attempt now, urgent first (final results before ordinary marks), then
        oldest first."""
        found: list[str] = []
        for priority in ("urgent", "normal"):
            cursor = (
                self._deliveries.find(
                    {"priority": priority, "$or": [
                        {"status": {"$in": ["queued", "retry_wait"]},
                         "next_attempt_at": {"$lte": now}},
                        {"status": "sending", "claimed_at": {"$lte": now - SENDING_LEASE}},
                    ]},
                    {"_id": 1},
                )
                .sort("next_attempt_at", 1)
                .limit(limit - len(found))
            )  # fmt: skip
            found.extend([doc["_id"] async for doc in cursor])
            if len(found) >= limit:
                break
        return found

    async def find(self, dedupe_key: str) -> Document | None:
        return await self._deliveries.find_one({"_id": dedupe_key})

    async def search(self, school_id: str, filters: dict[str, Any], limit: int) -> list[Document]:
        query = {"school_id": school_id, **{k: v for k, v in filters.items() if v is not None}}
        cursor = self._deliveries.find(query, {"request": 0}).sort("queued_at", -1).limit(limit)
        return [doc async for doc in cursor]

    # Clause 9: the 24-hour deadline.

    async def overdue(self, now: datetime) -> list[Document]:
        """Deadline-bound deliveries past their deadline, not sent, not yet looked at."""
        cursor = self._deliveries.find(
            {"deadline": {"$lte": now}, "status": {"$nin": ["sent", "cancelled"]},
             "deadline_checked": {"$ne": True}},
            {"request": 1, "source_event_id": 1, "recipient_id": 1},
        )  # fmt: skip
        return [doc async for doc in cursor]

    async def close_overdue(self, source_event_id: str, recipient_id: str) -> list[str]:
        """Stop trying the recipient's channels for this event (`expired`); return which
        channels were tried, or nothing if one of them was sent after all."""
        siblings = [
            doc
            async for doc in self._deliveries.find(
                {"source_event_id": source_event_id, "recipient_id": recipient_id},
                {"status": 1, "channel": 1},
            )
        ]
        query = {"source_event_id": source_event_id, "recipient_id": recipient_id}
        await self._deliveries.update_many(
            {**query, "status": {"$in": ["queued", "retry_wait", "sending"]}},
            {"$set": {"status": "expired"}},
        )
        await self._deliveries.update_many(query, {"$set": {"deadline_checked": True}})
        if any(doc["status"] == "sent" for doc in siblings):
            return []
        return sorted(doc["channel"] for doc in siblings)

    async def oldest_undelivered_deadline_bound(self) -> datetime | None:
        """When the oldest final result not yet delivered was obtained (or queued)."""
        cursor = self._deliveries.find(
            {"deadline": {"$ne": None}, "status": {"$in": ["queued", "sending", "retry_wait"]}},
            {"queued_at": 1, "obtained_at": 1},
        )  # fmt: skip
        oldest = [doc.get("obtained_at") or doc["queued_at"] async for doc in cursor]
        return min(oldest) if oldest else None


class MongoDeadlineMisses:
    """Recipients staff must inform by other means: one record per event and recipient."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._misses = db["deadline_misses"]

    async def record(self, miss: Document) -> bool:
        try:
            await self._misses.insert_one(miss)
        except DuplicateKeyError:
            return False
        return True

    async def of_school(self, school_id: str) -> list[Document]:
        cursor = self._misses.find({"school_id": school_id}, {"_id": 0}).sort("deadline", 1)
        return [doc async for doc in cursor]


class MongoInbox:
    """The personal account's inbox: one stored message per dedupe key."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._messages = db["inbox"]

    async def put(self, dedupe_key: str, message: Document) -> None:
        # Stored by an earlier attempt already: the inbox shows it once.
        with contextlib.suppress(DuplicateKeyError):
            await self._messages.insert_one({"_id": dedupe_key, **message})

    async def messages(self, school_id: str, recipient_id: str) -> list[Document]:
        cursor = self._messages.find(
            {"school_id": school_id, "recipient_id": recipient_id}, {"_id": 0}
        ).sort("created_at", -1)
        return [doc async for doc in cursor]


class MongoConsentView:
    """What the notifier knows of consent, from `consent.changes.v1`: checked before each send."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._revocations = db["revocations"]
        self._paper_only = db["paper_only"]
        self._contact_changes = db["contact_changes"]

    async def revoked(self, recipient_id: str, student_id: str, at: datetime) -> None:
        await self._revocations.replace_one(
            {"_id": f"{recipient_id}/{student_id}"}, {"at": at}, upsert=True
        )

    async def granted(self, recipient_id: str, student_id: str, at: datetime) -> None:
        # A consent given after a revocation lifts it; an older one (redelivered) does not.
        existing = await self._revocations.find_one({"_id": f"{recipient_id}/{student_id}"})
        if existing is not None and existing["at"] <= at:
            await self._revocations.delete_one({"_id": f"{recipient_id}/{student_id}"})

    async def set_paper_only(self, recipient_id: str, paper_only: bool) -> None:
        if paper_only:
            await self._paper_only.replace_one({"_id": recipient_id}, {}, upsert=True)
        else:
            await self._paper_only.delete_one({"_id": recipient_id})

    async def contact_changed(self, recipient_id: str, channel: str, at: datetime) -> None:
        """Remember the latest change: a request made before it carries an address that may
        no longer be the one the parent handed over."""
        key = f"{recipient_id}/{channel}"
        existing = await self._contact_changes.find_one({"_id": key})
        if existing is None or existing["at"] < at:
            await self._contact_changes.replace_one({"_id": key}, {"at": at}, upsert=True)

    async def why_not(self, request: NotificationRequested) -> str | None:
        payload = request.payload
        if await self._revocations.find_one(
            {"_id": f"{payload.recipient_id}/{payload.student_id}"}
        ):
            return "consent revoked"
        if await self._paper_only.find_one({"_id": payload.recipient_id}):
            return "declared paper only"
        change = await self._contact_changes.find_one(
            {"_id": f"{payload.recipient_id}/{payload.channel}"}
        )
        if change is not None and change["at"] > request.recorded_at:
            return f"{payload.channel} contact changed after the request was made"
        return None


class MongoSchoolZones:
    """Each school's time zone, from the journal's `SchoolChanged`; a default until one comes."""

    def __init__(self, db: AsyncDatabase[Document], default: ZoneInfo) -> None:
        self._zones = db["school_zones"]
        self._default = default

    async def save(self, school_id: str, timezone: str) -> None:
        await self._zones.replace_one({"_id": school_id}, {"timezone": timezone}, upsert=True)

    async def zone(self, school_id: str) -> ZoneInfo:
        doc = await self._zones.find_one({"_id": school_id})
        try:
            return ZoneInfo(doc["timezone"]) if doc else self._default
        except (ZoneInfoNotFoundError, ValueError):
            return self._default
