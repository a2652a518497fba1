"""Composition root of the consent service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from schemas import (
    AbsenceRecorded,
    ExamResultPosted,
    FinalMarkPosted,
    MarkPosted,
    NotificationRequested,
)
from schemas.consent import (
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    ContactChanged,
    PreferencesChanged,
)
from schemas.digest import WeeklyDigestCompiled
from services.consent.api import consent_router
from services.consent.config import Settings
from services.consent.handlers import register_handlers
from services.consent.store import MongoConsentRegistry
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.runtime import Runtime

SERVICE = "consent"
CONSUMES = (MarkPosted, AbsenceRecorded, FinalMarkPosted, ExamResultPosted, WeeklyDigestCompiled)
PUBLISHES = (
    NotificationRequested,
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    ContactChanged,
    PreferencesChanged,
)


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    registry = MongoConsentRegistry(runtime.database(settings.mongo_db))
    register_handlers(
        runtime.broker,
        runtime.topics,
        registry=registry,
        publish_all=runtime.publish.publish_batch,
        group_id=settings.consumer_group,
        dead_letters=runtime.dead_letters,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await registry.ensure_indexes()
        async with runtime.running(*CONSUMES, *PUBLISHES, consumer_group=settings.consumer_group):
            yield

    return create_http_app(
        title="Vestnik consent",
        description="Consents, contacts with provenance and preferences; filters journal events.",
        lifespan=lifespan,
        routers=[
            consent_router(
                registry,
                principal=authenticated(settings.jwt_secret),
                publish=runtime.publish,
            ),
            runtime.operations_router(),
        ],
    )
