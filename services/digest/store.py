"""The digest's read model on MongoDB: one document per student and week."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from schemas import MarkPostedPayload
from services.shared.mongo import Document


def _view_id(student_id: str, week: str) -> str:
    return f"{student_id}/{week}"


class MongoWeeklyViews:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._weeks = db["weekly_views"]

    async def put_mark(self, week: str, mark: MarkPostedPayload) -> None:
        # Marks live in a map keyed by the hex of their id: field names may not hold '.' or '$',
        # and a map makes a redelivered event overwrite its own slot instead of appending.
        slot = mark.mark_id.encode().hex()
        await self._weeks.update_one(
            {"_id": _view_id(mark.student_id, week)},
            {
                "$set": {f"marks.{slot}": mark.model_dump(mode="json")},
                "$setOnInsert": {"student_id": mark.student_id, "week": week},
            },
            upsert=True,
        )

    async def week(self, student_id: str, week: str) -> list[dict[str, Any]]:
        doc = await self._weeks.find_one({"_id": _view_id(student_id, week)})
        if doc is None:
            return []
        return sorted(doc["marks"].values(), key=lambda m: (m["lesson_date"], m["mark_id"]))
