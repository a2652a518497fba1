"""Composition root of the consent service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from schemas import MarkPosted, NotificationRequested
from services.consent.api import consent_router
from services.consent.config import Settings
from services.consent.handlers import register_handlers
from services.consent.store import MongoConsentRegistry
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.runtime import Runtime

SERVICE = "consent"


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings, publishes=(NotificationRequested,))
    registry = MongoConsentRegistry(runtime.database(settings.mongo_db))
    register_handlers(
        runtime.broker,
        runtime.topics,
        registry=registry,
        publish=runtime.publish,
        group_id=settings.consumer_group,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await registry.ensure_indexes()
        async with runtime.running(MarkPosted, NotificationRequested):
            yield

    return create_http_app(
        title="Vestnik consent",
        description="Consents, contacts with provenance and preferences; filters journal events.",
        lifespan=lifespan,
        routers=[
            consent_router(registry, principal=authenticated(settings.jwt_secret)),
            runtime.operations_router(),
        ],
    )
