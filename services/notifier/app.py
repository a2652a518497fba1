"""Composition root of the notifier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Counter

from schemas import NotificationRequested, NotificationSent
from services.notifier.config import Settings
from services.notifier.handlers import register_handlers
from services.notifier.rendering import create_environment
from services.notifier.sender import SmtpMailer
from services.notifier.store import MongoDeliveries
from services.shared.http import create_http_app
from services.shared.runtime import Runtime

SERVICE = "notifier"


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings, publishes=(NotificationSent,))
    deliveries = MongoDeliveries(runtime.database(settings.mongo_db))
    mailer = SmtpMailer(
        create_environment(),
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        timeout=settings.smtp_timeout_seconds,
    )
    outcomes = Counter(
        "vestnik_notifications",
        "Notification requests handled, by outcome.",
        ["channel", "kind", "outcome"],
        registry=runtime.registry,
    )
    register_handlers(
        runtime.broker,
        runtime.topics,
        deliveries=deliveries,
        mailer=mailer,
        publish_status=runtime.publish,
        group_id=settings.consumer_group,
        outcomes=outcomes,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await deliveries.ensure_indexes()
        async with runtime.running(NotificationRequested, NotificationSent):
            yield

    return create_http_app(
        title="Vestnik notifier",
        description="Sends e-mail, SMS and inbox notifications within the 24-hour deadline.",
        lifespan=lifespan,
        routers=[runtime.operations_router()],
    )
