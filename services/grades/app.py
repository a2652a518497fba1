"""Composition root of the grades service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from schemas.topics import EVENTS_BY_TOPIC
from services.grades.api import document_journal_items, grades_router
from services.grades.config import Settings
from services.grades.store import MongoGradesStore
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.kafka import recently_published
from services.shared.lease import MongoLease
from services.shared.outbox import BATCH_SIZE, OutboxRelay
from services.shared.runtime import Runtime
from services.shared.tasks import in_background

SERVICE = "grades"
PUBLISHES = tuple(
    event
    for topic, events in EVENTS_BY_TOPIC.items()
    if topic.startswith("journal.")
    for event in events
)


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    # What the API writes goes straight to this process's relay (when it runs one).
    database = runtime.database(settings.mongo_db)
    store = MongoGradesStore(
        database,
        on_written=(lambda records: relay.enqueue(records)) if settings.relay_enabled else None,
    )
    published = Counter(
        "vestnik_grades_events_published",
        "Events the outbox relay published.",
        ["type"],
        registry=runtime.registry,
    )
    items = Counter(
        "vestnik_grades_items",
        "Journal items received, by kind and outcome.",
        ["kind", "status"],
        registry=runtime.registry,
    )
    backlog = Gauge(
        "vestnik_grades_outbox_backlog",
        "Records whose events wait to be published.",
        registry=runtime.registry,
    )
    relay = OutboxRelay(
        store,
        runtime.publish.publish_all,
        connect=lambda: runtime.connect_kafka(*PUBLISHES),
        recently_published=lambda: recently_published(
            settings.kafka_bootstrap, sorted({runtime.topics.of(e) for e in PUBLISHES}), BATCH_SIZE
        ),
        # The holder must renew its lease in the second half of each slot.
        poll_seconds=min(settings.outbox_poll_seconds, settings.relay_lease_seconds / 3),
        on_published=lambda event: published.labels(event.type).inc(),
        on_backlog=backlog.set,
        lease=MongoLease(
            database["leases"], "outbox-relay", ttl_seconds=settings.relay_lease_seconds
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        # The journal's writes must not wait for Kafka: the relay connects when it can.
        async with (
            runtime.running(*PUBLISHES, kafka_at_start=False),
            in_background(relay.run() if settings.relay_enabled else None, name="outbox-relay"),
        ):
            yield

    app = create_http_app(
        title="Vestnik grades",
        description="The electronic journal's data exchange. Every accepted change is an event.",
        lifespan=lifespan,
        routers=[
            grades_router(
                store,
                principal=authenticated(settings.jwt_secret, audience=SERVICE),
                kafka_reachable=runtime.kafka_reachable,
                on_item=lambda kind, status: items.labels(kind, status).inc(),
            ),
            runtime.operations_router(kafka_optional=True),
        ],
    )
    document_journal_items(app)
    return app
