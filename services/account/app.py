"""Composition root of the account service: the personal account's sign-in and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from schemas import NotificationRequested
from schemas.consent import ContactChanged
from schemas.journal import StudentChanged
from services.account import staff_pages, usecases
from services.account.api import staff_router
from services.account.config import Settings
from services.account.extracts import DigestExtracts
from services.account.family_usecases import build_family
from services.account.handlers import register_handlers
from services.account.pages import STATIC, page_router
from services.account.registry import ConsentRegistry
from services.account.store import MongoAccountStore
from services.account.views import FamilyModule
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.kafka import recently_published
from services.shared.lease import MongoLease
from services.shared.outbox import BATCH_SIZE, OutboxRelay
from services.shared.retention import run_retention
from services.shared.runtime import Runtime
from services.shared.tasks import in_background, keep_running

SERVICE = "account"
CONSUMES = (ContactChanged, StudentChanged)
PUBLISHES = (NotificationRequested,)


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    family: FamilyModule | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """`family`: the family read model (`views.py`), built from the database unless given;
    `clock`: what codes, sessions and rate limits take for now (a test moves it on)."""
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    database = runtime.database(settings.mongo_db)
    store = MongoAccountStore(database, on_written=lambda records: relay.enqueue(records))
    relay = OutboxRelay(
        store.outbox,
        runtime.publish.publish_all,
        connect=lambda: runtime.connect_kafka(*PUBLISHES),
        recently_published=lambda: recently_published(
            settings.kafka_bootstrap, [runtime.topics.of(NotificationRequested)], BATCH_SIZE
        ),
        poll_seconds=min(settings.outbox_poll_seconds, settings.relay_lease_seconds / 3),
        lease=MongoLease(
            database["leases"], "outbox-relay", ttl_seconds=settings.relay_lease_seconds
        ),
    )
    register_handlers(
        runtime.broker,
        runtime.topics,
        store=store,
        group_id=settings.consumer_group,
        dead_letters=runtime.dead_letters,
    )
    consent_client = httpx.AsyncClient(
        base_url=settings.consent_url, timeout=10, limits=httpx.Limits(keepalive_expiry=4.0)
    )
    registry = ConsentRegistry(consent_client, jwt_secret=settings.jwt_secret)
    # A year's extract of a busy pupil takes the digest a few seconds to render.
    digest_client = httpx.AsyncClient(
        base_url=settings.digest_url, timeout=30, limits=httpx.Limits(keepalive_expiry=4.0)
    )
    extracts = DigestExtracts(digest_client, jwt_secret=settings.jwt_secret)
    module = family or build_family(database, extracts=extracts)
    # Its own group: it may read topics the account reads too, and each must see them all.
    module.register(
        runtime.broker,
        runtime.topics,
        group_id=f"{settings.consumer_group}-family",
        dead_letters=runtime.dead_letters,
    )

    def ports() -> usecases.Ports:
        return usecases.Ports(
            store=store,
            registry=registry,
            now=clock(),
            secret_key=settings.secret_key.get_secret_value(),
            digest_key=settings.contact_digest_key.get_secret_value(),
            unsubscribe_key=settings.unsubscribe_key.get_secret_value(),
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            session_absolute=timedelta(days=settings.session_absolute_days),
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        await module.ensure_indexes()
        async with AsyncExitStack() as stack:
            stack.push_async_callback(consent_client.aclose)
            stack.push_async_callback(digest_client.aclose)
            await stack.enter_async_context(
                runtime.running(
                    *CONSUMES,
                    *module.consumes,
                    *PUBLISHES,
                    consumer_group=settings.consumer_group,
                )
            )
            await stack.enter_async_context(in_background(relay.run(), name="outbox-relay"))
            await stack.enter_async_context(
                in_background(
                    run_retention(
                        store.retention_rules(), every_seconds=settings.purge_every_seconds
                    ),
                    name="purge",
                )
            )
            for name, step in module.loops():
                await stack.enter_async_context(
                    in_background(keep_running(step, name=name, retry_seconds=30.0), name=name)
                )
            yield

    app = create_http_app(
        title="Vestnik account",
        description="The personal account: families and students sign in with a one-time code "
        "or an activation code and see their children's school life.",
        lifespan=lifespan,
        routers=[
            staff_router(authenticated(settings.jwt_secret, audience=SERVICE), ports),
            staff_pages.staff_router(
                ports, jwt_secret=settings.jwt_secret, secure_cookies=settings.secure_cookies
            ),
            page_router(
                ports,
                module.views,
                secret_key=settings.secret_key.get_secret_value(),
                secure_cookies=settings.secure_cookies,
                trust_forwarded_for=settings.trust_forwarded_for,
            ),
            # Sign-in codes wait in the outbox while Kafka is away.
            runtime.operations_router(kafka_optional=True),
        ],
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
