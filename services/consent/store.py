"""The consent registry on MongoDB."""

from __future__ import annotations

from dataclasses import asdict

from pymongo.asynchronous.database import AsyncDatabase

from services.consent.domain import ContactProvenance, Guardian
from services.shared.mongo import Document, ProcessedEvents


class MongoConsentRegistry:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._guardians = db["guardians"]
        self.processed = ProcessedEvents(db["processed_events"])

    async def ensure_indexes(self) -> None:
        await self._guardians.create_index("student_ids")

    async def save_guardian(self, guardian: Guardian) -> None:
        doc = asdict(guardian)
        doc["student_ids"] = list(guardian.student_ids)
        await self._guardians.replace_one({"_id": guardian.guardian_id}, doc, upsert=True)

    async def guardians_of(self, student_id: str) -> list[Guardian]:
        cursor = self._guardians.find({"student_ids": student_id}, {"_id": 0}).sort("guardian_id")
        return [_guardian(doc) async for doc in cursor]


def _guardian(doc: Document) -> Guardian:
    provenance = doc.pop("email_provenance")
    return Guardian(
        **{**doc, "student_ids": tuple(doc["student_ids"])},
        email_provenance=ContactProvenance(**provenance) if provenance else None,
    )
