"""Composition root of the notifier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from prometheus_client import Counter, Gauge, Histogram

from schemas import NotificationRequested, NotificationSent, SchoolChanged
from schemas.consent import ConsentRevoked
from schemas.notify import DeadlineMissed, NotificationCancelled, NotificationFailed
from services.notifier.api import notifier_router
from services.notifier.config import Settings
from services.notifier.consent_check import PER_CALL, ConsentService
from services.notifier.domain import FallbackPolicy, RetryPolicy
from services.notifier.handlers import CatchUp, Scheduler, register_handlers
from services.notifier.handover import HandOver
from services.notifier.rendering import create_environment
from services.notifier.schedule import Schedule
from services.notifier.sender import InboxSender, SmsRuSender, SmtpSender, SmtpServer
from services.notifier.store import (
    MongoConsentView,
    MongoDeadlineMisses,
    MongoDeliveries,
    MongoInbox,
    MongoSchoolZones,
    RetentionPeriods,
    notifier_outbox,
    retention_rules,
)
from services.notifier.usecases import Ports, RecordBehind
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.kafka import backlog_of, recently_published
from services.shared.outbox import BATCH_SIZE, OutboxRelay
from services.shared.retention import run_retention
from services.shared.runtime import Runtime
from services.shared.tasks import in_background
from services.shared.timezones import zone_named

log = logging.getLogger(__name__)

SERVICE = "notifier"
CONSUMES = (NotificationRequested, ConsentRevoked, SchoolChanged)
PUBLISHES = (NotificationSent, NotificationFailed, NotificationCancelled, DeadlineMissed)


def create_app(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """`clock`: where time comes from; tests move it instead of waiting."""
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    db = runtime.database(settings.mongo_db)
    # The recorder's writes and the relay's take turns (FerretDB, see `MongoOutbox`); what is
    # written goes straight to the relay.
    updating = asyncio.Lock()
    outbox = notifier_outbox(db, updating=updating)
    deliveries = MongoDeliveries(db, updating=updating, on_written=lambda r: relay.enqueue(r))
    misses = MongoDeadlineMisses(db, on_written=lambda records: relay.enqueue(records))
    inbox, consent_view = MongoInbox(db), MongoConsentView(db)
    zones = MongoSchoolZones(db, default=zone_named(settings.school_timezone))
    outcomes = Counter(
        "vestnik_notifications",
        "Notification attempts and their outcome.",
        ["channel", "kind", "outcome"],
        registry=runtime.registry,
    )
    deadlines_missed = Counter(
        "vestnik_deadlines_missed",
        "Recipients not told within 24 hours (clause 9).",
        ["kind"],
        registry=runtime.registry,
    )
    latency = Histogram(
        "vestnik_delivery_latency_seconds",
        "From when the result was obtained (or the event happened) to the provider's acceptance.",
        ["channel", "category"],
        registry=runtime.registry,
        buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600),
    )
    sms_segments = Counter(
        "vestnik_sms_segments",
        "SMS segments sent (what the provider bills).",
        registry=runtime.registry,
    )
    oldest_pending = Gauge(
        "vestnik_oldest_undelivered_deadline_bound_seconds",
        "Age of the oldest final result not yet delivered, since it was obtained (clause 9).",
        registry=runtime.registry,
    )
    pass_steps = Histogram(
        "vestnik_notifier_pass_seconds",
        "Where a scheduler pass spends its time: consent check, sending, recording, publishing.",
        ["step"],
        registry=runtime.registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    pass_size = Histogram(
        "vestnik_notifier_pass_deliveries",
        "Deliveries a scheduler pass attempted.",
        registry=runtime.registry,
        buckets=(1, 5, 10, 25, 50, 100, 200),
    )
    env = create_environment()
    # No consent to ask (tests of the notifier alone): its own view is the last word.
    consent_client = (
        httpx.AsyncClient(
            base_url=settings.consent_url, timeout=10, limits=httpx.Limits(keepalive_expiry=4.0)
        )
        if settings.consent_url
        else None
    )
    consent_now = ConsentService(consent_client, settings.jwt_secret) if consent_client else None
    email = SmtpSender(
        env,
        SmtpServer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            concurrency=settings.smtp_concurrency,
        ),
        sender=settings.mail_from,
        account_url=settings.account_url,
        unsubscribe_key=settings.unsubscribe_key.get_secret_value(),
        handing=HandOver(consent_now, deliveries, group=settings.smtp_concurrency),
    )
    # Idle connections are dropped before a server would (uvicorn and many proxies close them
    # after 5 s): reusing one the server is closing fails the request with a ReadError.
    sms_client = httpx.AsyncClient(
        base_url=settings.sms_url, timeout=10, limits=httpx.Limits(keepalive_expiry=4.0)
    )
    published = Counter(
        "vestnik_notifier_events_published",
        "Status events the outbox relay published.",
        ["type"],
        registry=runtime.registry,
    )
    backlog = Gauge(
        "vestnik_notifier_outbox_backlog",
        "Deliveries and deadline misses whose status events wait to be published.",
        registry=runtime.registry,
    )
    relay = OutboxRelay(
        outbox,
        runtime.publish.publish_all,
        # The consumers start with the broker: whenever Kafka can be reached, not before.
        connect=lambda: runtime.connect_kafka(*CONSUMES, *PUBLISHES),
        recently_published=lambda: recently_published(
            settings.kafka_bootstrap, [runtime.topics.of(NotificationSent)], BATCH_SIZE
        ),
        poll_seconds=settings.outbox_poll_seconds,
        on_published=lambda event: published.labels(event.type).inc(),
        on_backlog=backlog.set,
    )
    recorder = RecordBehind(deliveries)
    purged = Counter(
        "vestnik_retention_purged",
        "Documents deleted because their retention period had passed (152-FZ art. 21).",
        ["collection"],
        registry=runtime.registry,
    )
    retention = retention_rules(
        db,
        RetentionPeriods(
            deliveries=timedelta(days=settings.keep_deliveries_days),
            inbox=timedelta(days=settings.keep_inbox_days),
            deadline_misses=timedelta(days=settings.keep_misses_days),
        ),
    )
    ports = Ports(
        deliveries=deliveries,
        misses=misses,
        recorder=recorder,
        senders={
            "email": email,
            "sms": SmsRuSender(
                env,
                sms_client,
                api_id=settings.sms_api_id.get_secret_value(),
                per_second=settings.sms_per_second,
                on_sent=sms_segments.inc,
                # SMS is idempotent at the provider (`client_id`): no mark is needed.
                handing=HandOver(consent_now, None, group=1),
            ),
            "inbox": InboxSender(env, inbox, handing=HandOver(consent_now, None, group=PER_CALL)),
        },
        consent=consent_view,
        # About a second's worth of SMS at the provider's rate.
        per_pass={"sms": max(1, round(settings.sms_per_second))},
        policy=RetryPolicy(
            first_delay=timedelta(seconds=settings.retry_first_delay_seconds),
            max_attempts=settings.retry_max_attempts,
        ),
        now=clock or (lambda: datetime.now(UTC)),
        random=random.random,
        zones=zones,
        fallback=FallbackPolicy(
            mode=settings.fallback,
            order=settings.fallback_order,
            wait=timedelta(minutes=settings.fallback_wait_minutes),
        ),
        on_step=lambda step, seconds: pass_steps.labels(step).observe(seconds),
    )

    def count(request: NotificationRequested, outcome: str) -> None:
        payload = request.payload
        outcomes.labels(payload.channel, payload.content.kind, outcome).inc()
        if outcome == "sent":
            started = getattr(payload.content, "obtained_at", None) or request.occurred_at
            latency.labels(payload.channel, payload.category).observe(
                (ports.now() - started).total_seconds()
            )

    consent_caught_up = CatchUp(
        lambda: backlog_of(
            settings.kafka_bootstrap,
            runtime.topics.of(ConsentRevoked),
            settings.consumer_group,
        ),
        timeout=settings.consent_catch_up_seconds,
    )
    scheduler = Scheduler(
        Schedule(),
        ports,
        load=deliveries.open_in,
        poll_seconds=settings.scheduler_poll_seconds,
        on_outcome=count,
        on_missed=lambda missed: deadlines_missed.labels(missed.payload.kind).inc(),
        on_oldest_pending=oldest_pending.set,
        on_pass=pass_size.observe,
        ready=consent_caught_up.wait,
    )
    register_handlers(
        runtime.broker,
        runtime.topics,
        scheduler=scheduler,
        consent_view=consent_view,
        zones=zones,
        group_id=settings.consumer_group,
        dead_letters=runtime.dead_letters,
        consent_caught_up=consent_caught_up,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for store in (deliveries, misses, inbox, consent_view, outbox):
            await store.ensure_indexes()
        # Kafka is not needed to start, nor to send what is scheduled: if it is away now, the
        # relay connects (and with it the consumers start) when it can, and publishes what
        # waited.
        try:
            await runtime.connect_kafka(*CONSUMES, *PUBLISHES)
        except Exception as error:
            log.warning("starting without Kafka (%s); connecting later", type(error).__name__)
        async with (
            runtime.running(kafka_at_start=False, consumer_group=settings.consumer_group),
            in_background(scheduler.run(), name="delivery-scheduler"),
            in_background(
                run_retention(
                    retention,
                    every_seconds=settings.retention_every_seconds,
                    on_purged=lambda collection, count: purged.labels(collection).inc(count),
                ),
                name="retention",
            ),
        ):
            try:
                async with in_background(relay.run(), name="outbox-relay"):
                    yield
            finally:
                await scheduler.stop()  # before the group is left and the task cancelled
                await publish_what_is_left(relay, runtime.kafka_reachable)
        await sms_client.aclose()
        if consent_client is not None:
            await consent_client.aclose()
        await email.close()

    return create_http_app(
        title="Vestnik notifier",
        description="Sends e-mail, SMS and inbox notifications within the 24-hour deadline.",
        lifespan=lifespan,
        routers=[
            notifier_router(
                deliveries,
                inbox,
                misses,
                principal=authenticated(settings.jwt_secret, audience=SERVICE),
            ),
            # Ready while MongoDB is: sending and the API need nothing else.
            runtime.operations_router(kafka_optional=True),
        ],
    )


async def publish_what_is_left(
    relay: OutboxRelay, kafka_reachable: Callable[[], Awaitable[bool]], seconds: float = 5.0
) -> None:
    """At shutdown, the status events of the last passes go out now rather than when the next
    process starts, if Kafka answers; never waiting long for it (they are in the outbox)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(seconds):
            if await kafka_reachable():
                while await relay.publish_pending():
                    pass
