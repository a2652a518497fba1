"""What every service process holds: its broker, its database and its metrics registry.

Built by each service's composition root (`app.py`), never at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry, Gauge
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schemas import Envelope
from schemas.topics import Topics
from services.shared.config import ServiceSettings
from services.shared.http import HealthCheck, operations_router
from services.shared.kafka import (
    DeadLetters,
    EventPublisher,
    create_broker,
    ensure_topics,
    watch_consumer_lag,
)
from services.shared.mongo import CommandCounter, Document, create_mongo_client
from services.shared.tasks import in_background

log = logging.getLogger(__name__)
# How long a stopping service lets the producer hand Kafka what it holds. With the broker away,
# aiokafka's stop waits for every pending batch to time out, and a shutdown past the
# orchestrator's grace period ends in SIGKILL anyway; what is left is not lost: the outboxes
# publish it again, and an uncommitted consumer offset brings its input back.
BROKER_STOP_SECONDS = 10.0


@dataclass
class Runtime:
    service: str
    settings: ServiceSettings
    topics: Topics
    broker: KafkaBroker
    mongo: AsyncMongoClient[Document]
    publish: EventPublisher
    registry: CollectorRegistry
    db_commands: CommandCounter
    dead_letters: DeadLetters
    connected: bool = False

    @classmethod
    def build(
        cls,
        service: str,
        settings: ServiceSettings,
        *,
        publishes: tuple[type[Envelope[Any]], ...] = (),
    ) -> Runtime:
        """`publishes`: the event types the service produces; `publish(event)` sends them."""
        registry = CollectorRegistry()
        topics = Topics(settings.topic_prefix)
        broker, dead_letters = create_broker(
            settings.kafka_bootstrap, service=service, topics=topics, registry=registry
        )
        db_commands = CommandCounter(registry)
        mongo = create_mongo_client(settings.mongo_url, commands=db_commands)
        publish = EventPublisher(broker, topics, publishes)
        return cls(
            service, settings, topics, broker, mongo, publish, registry, db_commands, dead_letters
        )

    def database(self, name: str) -> AsyncDatabase[Document]:
        return self.mongo[name]

    def operations_router(self, *, kafka_optional: bool = False) -> APIRouter:
        """`kafka_optional`: the service keeps working without Kafka (it queues), so Kafka
        being away makes it degraded, not unavailable."""

        def asyncapi() -> dict[str, Any]:
            document = AsyncAPI(self.broker, title=f"Vestnik {self.service}", version="1")
            jsonable: dict[str, Any] = document.to_specification().to_jsonable()
            return jsonable

        critical = {"mongo"} if kafka_optional else {"mongo", "kafka"}
        return operations_router(self.registry, self.health_checks(), asyncapi, critical)

    def health_checks(self) -> dict[str, HealthCheck]:
        async def mongo() -> None:
            await self.mongo.admin.command("ping")

        async def kafka() -> None:
            if not await self.kafka_reachable():
                raise ConnectionError("Kafka did not answer")

        return {"mongo": mongo, "kafka": kafka}

    async def kafka_reachable(self) -> bool:
        return self.connected and await self.broker.ping(timeout=1.0)

    async def connect_kafka(self, *events: type[Envelope[Any]]) -> None:
        """Create the topics of `events` and start the broker; call again after a failure."""
        if self.connected:
            return
        try:
            await ensure_topics(
                self.settings.kafka_bootstrap,
                [self.topics.of(event) for event in events],
                partitions=self.settings.kafka_partitions,
                replication_factor=self.settings.kafka_replication_factor,
            )
            await self.broker.start()
        except Exception:
            with suppress(Exception):
                await self.broker.stop()
            raise
        self.connected = True

    @asynccontextmanager
    async def running(
        self,
        *events: type[Envelope[Any]],
        kafka_at_start: bool = True,
        consumer_group: str | None = None,
    ) -> AsyncIterator[None]:
        """Connect to Kafka (creating the topics of the events the service reads and writes)
        and start the subscribers; undo it all on exit. Without `kafka_at_start` the service
        starts anyway and connects later (`connect_kafka`). With `consumer_group`, the group's
        lag is kept in `vestnik_consumer_lag_messages` for ops to alert on."""
        if kafka_at_start:
            await self.connect_kafka(*events)
        watch_lag = None
        if consumer_group is not None:
            gauge = Gauge(
                "vestnik_consumer_lag_messages",
                "Messages the consumer group has not processed.",
                ["topic", "group"],
                registry=self.registry,
            )
            watch_lag = watch_consumer_lag(self.settings.kafka_bootstrap, consumer_group, gauge)
        try:
            async with in_background(watch_lag, name="consumer-lag"):
                yield
        finally:
            if self.connected:
                try:
                    async with asyncio.timeout(BROKER_STOP_SECONDS):
                        await self.broker.stop()
                except TimeoutError:
                    log.warning("Kafka took nothing more within %ss; stopping", BROKER_STOP_SECONDS)
            await self.mongo.close()
