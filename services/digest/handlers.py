"""Kafka entrypoints of the digest service."""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from schemas import MarkPosted, Topics
from services.digest.domain import record_mark
from services.digest.store import MongoWeeklyViews


def register_handlers(
    broker: KafkaBroker, topics: Topics, *, views: MongoWeeklyViews, group_id: str
) -> None:
    @broker.subscriber(
        topics.of(MarkPosted),
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_mark_posted(event: MarkPosted) -> None:
        """Keep the student's weekly view up to date."""
        await record_mark(event, views=views)
