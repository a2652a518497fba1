"""Kafka entrypoints of the digest service."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from schemas import MarkEvent, MarkPosted, Topics
from services.digest.domain import record_mark_event
from services.digest.store import MongoWeeklyViews
from services.shared.kafka import subscribe


def register_handlers(
    broker: KafkaBroker, topics: Topics, *, views: MongoWeeklyViews, group_id: str
) -> None:
    @subscribe(broker, topics, MarkPosted, group_id=group_id)
    async def on_mark_event(event: MarkEvent) -> None:
        """Keep the student's weekly view up to date."""
        await record_mark_event(event, views=views)
