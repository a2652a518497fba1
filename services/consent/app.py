"""Composition root of the consent service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import Counter

from schemas import (
    AbsenceRecorded,
    ExamResultPosted,
    FinalMarkPosted,
    MarkPosted,
    NotificationRequested,
)
from schemas.classwork import AssessmentPlanned, HomeworkAssigned, RecommendationPosted
from schemas.consent import (
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    ContactChanged,
    PreferencesChanged,
)
from schemas.digest import WeeklyDigestCompiled
from schemas.journal import SchoolChanged
from schemas.timetable import GroupChanged, LessonChangePosted
from services.consent import usecases
from services.consent.api import consent_routers, install_error_handlers, utc_now
from services.consent.config import Settings
from services.consent.domain import HAND_OVER_WINDOW
from services.consent.handlers import register_handlers
from services.consent.roster import MongoRoster
from services.consent.store import MongoConsentRegistry
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.kafka import recently_published
from services.shared.lease import MongoLease
from services.shared.outbox import BATCH_SIZE, OutboxRelay
from services.shared.retention import purge_expired
from services.shared.runtime import Runtime
from services.shared.tasks import in_background, keep_running
from services.shared.timezones import zone_named

SERVICE = "consent"
CONSUMES = (
    MarkPosted,
    AbsenceRecorded,
    FinalMarkPosted,
    ExamResultPosted,
    WeeklyDigestCompiled,
    # Clause 4: the roster, and the class's facts that are news.
    SchoolChanged,
    GroupChanged,
    LessonChangePosted,
    AssessmentPlanned,
    HomeworkAssigned,
    RecommendationPosted,
)
# What the registry's changes produce, through the outbox.
CHANGES = (ConsentGranted, ConsentRefused, ConsentRevoked, ContactChanged, PreferencesChanged)
PUBLISHES = (NotificationRequested, *CHANGES)


def create_app(settings: Settings) -> FastAPI:
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    database = runtime.database(settings.mongo_db)
    # What the API writes goes straight to this process's relay.
    registry = MongoConsentRegistry(database, on_written=lambda records: relay.enqueue(records))
    relay = OutboxRelay(
        registry.outbox,
        runtime.publish.publish_all,
        connect=lambda: runtime.connect_kafka(*CHANGES),
        recently_published=lambda: recently_published(
            settings.kafka_bootstrap, sorted({runtime.topics.of(e) for e in CHANGES}), BATCH_SIZE
        ),
        # The holder must renew its lease in the second half of each slot.
        poll_seconds=min(settings.outbox_poll_seconds, settings.relay_lease_seconds / 3),
        lease=MongoLease(
            database["leases"], "outbox-relay", ttl_seconds=settings.relay_lease_seconds
        ),
    )
    roster = MongoRoster(database, default_zone=zone_named(settings.school_timezone))
    register_handlers(
        runtime.broker,
        runtime.topics,
        registry=registry,
        roster=roster,
        publish_all=runtime.publish.publish_batch,
        group_id=settings.consumer_group,
        dead_letters=runtime.dead_letters,
    )

    purged = Counter(
        "vestnik_retention_purged",
        "Personal data deleted because its retention period passed, by collection.",
        ["collection"],
        registry=runtime.registry,
    )

    async def retention_pass() -> None:
        now = utc_now()
        rules = registry.retention_rules(
            decisions=timedelta(days=settings.decisions_retention_days)
        )
        for collection, count in (await purge_expired(rules, now=now)).items():
            purged.labels(collection).inc(count)
        erased = await usecases.erase_contacts_after_withdrawal(
            keep=timedelta(days=settings.contacts_after_withdrawal_days),
            registry=usecases.Registry(
                registry, now, settings.contact_digest_key.get_secret_value()
            ),
        )
        purged.labels("contacts").inc(erased)
        await asyncio.sleep(settings.retention_every_seconds)

    async def forget_hand_overs() -> None:
        await registry.forget_hand_overs(utc_now() - HAND_OVER_WINDOW)
        await asyncio.sleep(HAND_OVER_WINDOW.total_seconds())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await registry.ensure_indexes()
        await roster.ensure_indexes()
        async with (
            runtime.running(*CONSUMES, *PUBLISHES, consumer_group=settings.consumer_group),
            in_background(relay.run(), name="outbox-relay"),
            in_background(
                keep_running(retention_pass, name="retention", retry_seconds=60.0),
                name="retention",
            ),
            in_background(
                keep_running(forget_hand_overs, name="hand-overs", retry_seconds=5.0),
                name="hand-overs",
            ),
        ):
            yield

    app = create_http_app(
        title="Vestnik consent",
        description="Consents, contacts with provenance and preferences; filters journal events.",
        lifespan=lifespan,
        routers=[
            *consent_routers(
                registry,
                principal=authenticated(settings.jwt_secret, audience=SERVICE),
                clock=utc_now,
                digest_key=settings.contact_digest_key.get_secret_value(),
            ),
            # Its API takes changes while Kafka is away (the outbox keeps their events).
            runtime.operations_router(kafka_optional=True),
        ],
    )
    install_error_handlers(app)
    return app
