"""The weekly view of one student's results."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from schemas import MarkPosted, MarkPostedPayload


def iso_week(day: date) -> str:
    """The school week a day belongs to, as `2026-W48`."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class WeeklyViews(Protocol):
    async def put_mark(self, week: str, mark: MarkPostedPayload) -> None: ...


async def record_mark(event: MarkPosted, *, views: WeeklyViews) -> None:
    """File the mark under the week of its lesson; putting it again overwrites the same slot."""
    await views.put_mark(iso_week(event.payload.lesson_date), event.payload)
