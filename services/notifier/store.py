"""Delivery records on MongoDB, one per dedupe key (the document `_id`)."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from schemas import NotificationRequested
from services.notifier.domain import DeliveryStatus
from services.shared.mongo import Document


class MongoDeliveries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db["deliveries"]

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("student_id", 1), ("status", 1)])

    async def claim(self, request: NotificationRequested) -> DeliveryStatus:
        payload = request.payload
        # One atomic upsert: a redelivered request finds the record its first copy made.
        doc = await self._deliveries.find_one_and_update(
            {"_id": payload.dedupe_key},
            {
                "$setOnInsert": {
                    "status": "queued",
                    "student_id": payload.student_id,
                    "recipient_id": payload.recipient_id,
                    "channel": payload.channel,
                    "kind": payload.content.kind,
                    "source_event_id": str(payload.source_event_id),
                    "queued_at": datetime.now(UTC),
                }
            },
            upsert=True,
            return_document=True,
        )
        assert doc is not None  # upsert with return_document=AFTER always returns it
        status: DeliveryStatus = doc["status"]
        return status

    async def mark_sent(self, dedupe_key: str, message_id: str, sent_at: datetime) -> None:
        await self._deliveries.update_one(
            {"_id": dedupe_key},
            {"$set": {"status": "sent", "message_id": message_id, "sent_at": sent_at}},
        )

    async def find(self, dedupe_key: str) -> Document | None:
        return await self._deliveries.find_one({"_id": dedupe_key})
