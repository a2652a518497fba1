"""Kafka entrypoints of the notifier, and the scheduler that retries what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from schemas import NotificationRequested, ReferenceEvent, SchoolChanged, Topics
from schemas.consent import (
    ConsentChange,
    ConsentGranted,
    ConsentRevoked,
    ContactChanged,
    PreferencesChanged,
)
from schemas.notify import DeadlineMissed
from services.notifier.domain import Ports, accept, attempt, record_missed_deadlines
from services.notifier.store import (
    MongoConsentView,
    MongoDeadlineMisses,
    MongoDeliveries,
    MongoSchoolZones,
)
from services.shared.kafka import subscribe
from services.shared.tasks import stop_if_cancelled

log = logging.getLogger(__name__)

SCHEDULER_BATCH = 50

OnOutcome = Callable[[NotificationRequested, str], None]


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    ports: Ports,
    consent_view: MongoConsentView,
    zones: MongoSchoolZones,
    group_id: str,
    on_outcome: OnOutcome,
    on_accepted: Callable[[], None],
) -> None:
    @subscribe(broker, topics, NotificationRequested, group_id=group_id)
    async def on_notification_requested(request: NotificationRequested) -> None:
        """Record the request (a redelivery finds it recorded) and wake the scheduler.

        Sending happens there, urgent first: a backlog of ordinary marks on the topic is
        recorded quickly and never stands in front of a final result (the priority lane).
        """
        if not await accept(request, ports):
            on_outcome(request, "duplicate")
            return
        on_accepted()

    @subscribe(broker, topics, SchoolChanged, group_id=group_id)
    async def on_reference_change(change: ReferenceEvent) -> None:
        """Only a school's time zone matters here (quiet hours)."""
        if isinstance(change, SchoolChanged):
            await zones.save(change.payload.school_id, change.payload.timezone)

    @subscribe(broker, topics, ConsentRevoked, group_id=group_id)
    async def on_consent_change(change: ConsentChange) -> None:
        """Keep the view of consent the last check before each send reads."""
        match change:
            case ConsentRevoked(payload=p):
                await consent_view.revoked(p.recipient_id, p.student_id, p.effective_at)
            case ConsentGranted(payload=p):
                await consent_view.granted(p.recipient_id, p.student_id, p.effective_at)
            case PreferencesChanged(payload=p):
                await consent_view.set_paper_only(p.recipient_id, p.paper_only)
            case ContactChanged(payload=p):
                await consent_view.contact_changed(p.recipient_id, p.channel, p.effective_at)


async def run_scheduler(
    deliveries: MongoDeliveries,
    misses: MongoDeadlineMisses,
    ports: Ports,
    *,
    wake: asyncio.Event,
    poll_seconds: float,
    on_outcome: OnOutcome,
    on_missed: Callable[[DeadlineMissed], None],
    on_oldest_pending: Callable[[float], None],
) -> None:
    """Each pass: attempt what is due, urgent first (new requests, retries after their backoff,
    anything left `sending` by a process that died), then look for missed deadlines. The
    schedule lives in MongoDB, so it survives restarts. A pass takes a small batch, so a final
    result that arrives behind a backlog waits for at most one batch. The deadline checks scan
    every undelivered final result, so they run once per `poll_seconds`, not once per pass
    (a busy notifier makes a pass per request)."""
    checked_at = float("-inf")
    while True:
        stop_if_cancelled()  # a library may have swallowed our cancellation
        wake.clear()
        full = False
        try:
            due = await deliveries.due(ports.now(), limit=SCHEDULER_BATCH)
            full = len(due) == SCHEDULER_BATCH
            for dedupe_key in due:
                outcome, request = await attempt(dedupe_key, ports)
                if request is not None:
                    on_outcome(request, outcome)
                    # The dedupe key names the event and recipient ids, never an address.
                    log.info("%s %s", outcome, dedupe_key)
            if time.monotonic() - checked_at >= poll_seconds:
                checked_at = time.monotonic()
                await _check_deadlines(deliveries, misses, ports, on_missed, on_oldest_pending)
        except Exception:  # a database outage: the schedule is still there next time
            stop_if_cancelled()
            log.exception("scheduler pass failed")
        if not full:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)


async def _check_deadlines(
    deliveries: MongoDeliveries,
    misses: MongoDeadlineMisses,
    ports: Ports,
    on_missed: Callable[[DeadlineMissed], None],
    on_oldest_pending: Callable[[float], None],
) -> None:
    for missed in await record_missed_deadlines(
        deliveries=deliveries, misses=misses, publish=ports.publish, now=ports.now()
    ):
        log.warning("deadline missed: %s for %s", missed.payload.kind,
                    missed.payload.recipient_id)  # fmt: skip
        on_missed(missed)
    oldest = await deliveries.oldest_undelivered_deadline_bound()
    on_oldest_pending((ports.now() - oldest).total_seconds() if oldest else 0.0)
