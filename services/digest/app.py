"""Composition root of the digest service: its HTTP app, Kafka consumers and scheduler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from services.digest.api import digest_router, install_error_handlers
from services.digest.config import Settings
from services.digest.handlers import register_handlers
from services.digest.reports_api import reports_router
from services.digest.service import CONSUMES, PUBLISHES, SERVICE, build
from services.digest.usecases import watch_missing_finals
from services.digest.week_api import week_router
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.tasks import in_background


def create_app(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    digest = build(settings, clock=clock)
    runtime, store = digest.runtime, digest.store
    register_handlers(
        runtime.broker,
        runtime.topics,
        store=store,
        week_store=digest.week_store,
        group_id=settings.consumer_group,
        dead_letters=runtime.dead_letters,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        await digest.week_store.ensure_indexes()
        # A replica may leave the weekly run to others.
        scheduler = digest.scheduler() if settings.scheduler else None
        async with (
            runtime.running(*CONSUMES, *PUBLISHES, consumer_group=settings.consumer_group),
            in_background(scheduler, name="weekly-scheduler"),
            in_background(digest.retention(), name="retention"),
            in_background(watch_missing_finals(digest), name="missing-final-marks"),
        ):
            yield

    caller = authenticated(settings.jwt_secret, audience=SERVICE)
    app = create_http_app(
        title="Vestnik digest",
        description="Weekly summaries by e-mail and on paper, the forecast, and extracts.",
        lifespan=lifespan,
        routers=[
            digest_router(digest, principal=caller),
            week_router(digest, principal=caller),
            reports_router(digest, principal=caller),
            runtime.operations_router(),
        ],
    )
    install_error_handlers(app)
    return app
