"""Personal data kept only as long as needed (152-FZ art. 5 part 7, art. 21): each service
names its collections' retention rules, and a scheduled job deletes what has expired.

FerretDB has no TTL indexes, so the purge is ours on every store alike; on MongoDB it costs
one `delete_many` per rule a day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection

from services.shared.mongo import Document
from services.shared.tasks import keep_running

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionRule:
    """Delete documents of `collection` whose `timestamp` field (a datetime) is older than
    `keep`; `only` narrows it (say, to finished deliveries)."""

    collection: AsyncCollection[Document]
    timestamp: str
    keep: timedelta
    only: Document = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.collection.name


async def purge_expired(rules: Sequence[RetentionRule], *, now: datetime) -> dict[str, int]:
    """One pass over every rule; returns how many documents each collection lost."""
    purged: dict[str, int] = {}
    for rule in rules:
        result = await rule.collection.delete_many(
            {**rule.only, rule.timestamp: {"$lt": now - rule.keep}}
        )
        purged[rule.name] = purged.get(rule.name, 0) + result.deleted_count
    return purged


async def run_retention(
    rules: Sequence[RetentionRule],
    *,
    every_seconds: float,
    on_purged: Callable[[str, int], None] = lambda collection, count: None,
) -> None:
    """Purge now and then every `every_seconds`, until cancelled."""

    async def step() -> None:
        for collection, count in (await purge_expired(rules, now=datetime.now(UTC))).items():
            on_purged(collection, count)
            if count:
                log.info("retention: %d expired documents deleted from %s", count, collection)
        await asyncio.sleep(every_seconds)

    await keep_running(step, name="retention", retry_seconds=min(every_seconds, 60.0))
