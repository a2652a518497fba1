"""The weekly view of one student's results."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from schemas import MarkCorrected, MarkEvent, MarkPosted, MarkRetracted
from schemas.journal import MarkFacts


def iso_week(day: date) -> str:
    """The school week a day belongs to, as `2026-W48`."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class WeeklyViews(Protocol):
    async def put_mark(self, week: str, mark: MarkFacts) -> None: ...
    async def remove_mark(self, week: str, mark: MarkFacts) -> None: ...


async def record_mark_event(event: MarkEvent, *, views: WeeklyViews) -> None:
    """Keep the week of the lesson current: a correction overwrites the mark's slot, a
    retraction empties it. Replaying an event leaves the view as it was."""
    week = iso_week(event.payload.lesson_date)
    match event:
        case MarkPosted() | MarkCorrected():
            await views.put_mark(week, event.payload)
        case MarkRetracted():
            await views.remove_mark(week, event.payload)
