"""The digest's read model on MongoDB: one document per school, student and week."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from schemas.journal import MarkFacts
from services.shared.mongo import Document


def _view_id(school_id: str, student_id: str, week: str) -> str:
    return f"{school_id}/{student_id}/{week}"


def _slot(mark: MarkFacts) -> str:
    # Marks live in a map keyed by the hex of their id: field names may not hold '.' or '$',
    # and a map makes a redelivered event overwrite its own slot instead of appending.
    return f"marks.{mark.mark_id.encode().hex()}"


class MongoWeeklyViews:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._weeks = db["weekly_views"]

    async def put_mark(self, week: str, mark: MarkFacts) -> None:
        fields = mark.model_dump(mode="json", exclude={"kind", "previous_value", "reason"})
        await self._weeks.update_one(
            {"_id": _view_id(mark.school_id, mark.student_id, week)},
            {
                "$set": {_slot(mark): fields},
                "$setOnInsert": {"student_id": mark.student_id, "week": week},
            },
            upsert=True,
        )

    async def remove_mark(self, week: str, mark: MarkFacts) -> None:
        await self._weeks.update_one(
            {"_id": _view_id(mark.school_id, mark.student_id, week)},
            {"$unset": {_slot(mark): ""}},
        )

    async def week(self, school_id: str, student_id: str, week: str) -> list[dict[str, Any]]:
        doc = await self._weeks.find_one({"_id": _view_id(school_id, student_id, week)})
        if doc is None:
            return []
        marks = doc.get("marks", {}).values()
        return sorted(marks, key=lambda m: (m["lesson_date"], m["mark_id"]))
