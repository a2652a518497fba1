"""MongoDB plumbing: the async PyMongo client and the processed-event record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


def create_mongo_client(url: str) -> AsyncMongoClient[Document]:
    # tz_aware: datetimes come back as aware UTC, like the ones our events carry.
    return AsyncMongoClient(url, tz_aware=True, uuidRepresentation="standard", appname="vestnik")


class ProcessedEvents:
    """Remembers which events a consumer has handled, so a redelivery is a no-op.

    The event id is the document `_id`, whose unique index makes `mark` atomic.
    """

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def is_processed(self, event_id: uuid.UUID) -> bool:
        return await self._collection.find_one({"_id": str(event_id)}) is not None

    async def mark(self, event_id: uuid.UUID) -> bool:
        """Record the event; False if it was already recorded."""
        try:
            await self._collection.insert_one(
                {"_id": str(event_id), "processed_at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            return False
        return True
