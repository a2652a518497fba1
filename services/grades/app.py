"""Composition root of the grades service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from prometheus_client import Counter

from schemas import MarkPosted
from services.grades.api import grades_router
from services.grades.config import Settings
from services.grades.outbox import OutboxRelay
from services.grades.store import MongoGradesStore
from services.shared.http import create_http_app, require_token
from services.shared.runtime import Runtime

SERVICE = "grades"


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings, publishes=(MarkPosted,))
    store = MongoGradesStore(runtime.database(settings.mongo_db))
    events_published = Counter(
        "vestnik_grades_events_published",
        "Events the outbox relay published.",
        ["type"],
        registry=runtime.registry,
    )
    relay = OutboxRelay(
        store,
        runtime.publish,
        poll_seconds=settings.outbox_poll_seconds,
        on_published=lambda event: events_published.labels(event.type).inc(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        async with runtime.running(MarkPosted):
            relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
            yield
            relay_task.cancel()
            with suppress(asyncio.CancelledError):
                await relay_task

    return create_http_app(
        title="Vestnik grades",
        description="The electronic journal's data exchange. Every accepted change is an event.",
        lifespan=lifespan,
        routers=[
            grades_router(store, on_accepted=relay.wake, auth=require_token(settings.api_token)),
            runtime.operations_router(),
        ],
    )
