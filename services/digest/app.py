"""Composition root of the digest service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from schemas import MarkPosted
from services.digest.api import digest_router
from services.digest.config import Settings
from services.digest.handlers import register_handlers
from services.digest.store import MongoWeeklyViews
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.runtime import Runtime

SERVICE = "digest"


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings)
    views = MongoWeeklyViews(runtime.database(settings.mongo_db))
    register_handlers(runtime.broker, runtime.topics, views=views, group_id=settings.consumer_group)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running(MarkPosted):
            yield

    return create_http_app(
        title="Vestnik digest",
        description="Weekly summaries by e-mail and on paper, and the final-mark forecast.",
        lifespan=lifespan,
        routers=[
            digest_router(views, principal=authenticated(settings.jwt_secret)),
            runtime.operations_router(),
        ],
    )
