"""Kafka entrypoints of the notifier, and the scheduler that sends what is due."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from schemas import NotificationRequested, ReferenceEvent, SchoolChanged, Topics
from schemas.consent import (
    ConsentChange,
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    ContactChanged,
    PreferencesChanged,
)
from schemas.notify import DeadlineMissed
from services.notifier.schedule import Pending, Schedule
from services.notifier.store import MongoConsentView, MongoSchoolZones
from services.notifier.usecases import (
    PASS_SIZE,
    Ports,
    accept_requests,
    expire_overdue,
    run_pass,
    take_over,
)
from services.shared.kafka import DeadLetters, partitions_of, subscribe, subscribe_batch
from services.shared.tasks import keep_running

log = logging.getLogger(__name__)

OnOutcome = Callable[[NotificationRequested, str], None]


class CatchUp:
    """Whether a consumer has taken in what its topic held when it was first asked: the
    notifier sends nothing until its view of consent is that current, or a restarted
    notifier would send with a view as old as its downtime (issue 16: `make chaos` found an
    e-mail sent to a contact replaced 30 s before). It stops waiting after `timeout`, as when
    Kafka is away: the view is then as current as it can be, and sending must go on."""

    def __init__(
        self,
        backlog: Callable[[], Awaitable[dict[int, int]]],
        *,
        timeout: float,
        retry_seconds: float = 1.0,
    ) -> None:
        self._backlog = backlog
        self._timeout = timeout
        self._retry_seconds = retry_seconds
        self._left: dict[int, int] | None = None  # partition: the end offset to reach
        self._next: dict[int, int] = {}  # partition: the offset after the last one taken in
        self._ready = asyncio.Event()

    def took_in(self, partition: int, offset: int) -> None:
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)
        self._check()

    def _check(self) -> None:
        left = self._left
        if left is not None and all(self._next.get(p, 0) >= end for p, end in left.items()):
            self._ready.set()

    async def wait(self) -> None:
        if self._ready.is_set():
            return
        try:
            async with asyncio.timeout(self._timeout):
                while self._left is None:
                    try:
                        self._left = await self._backlog()
                    except Exception as error:  # metadata not there yet: a broker restarting
                        log.info("asking again for the consent topic's offsets: %r", error)
                        await asyncio.sleep(self._retry_seconds)
                self._check()
                await self._ready.wait()
        except TimeoutError:  # Kafka away, or the view slower than the timeout
            log.warning("sending before the consent view caught up")
            self._ready.set()


class Scheduler:
    """Sends the open deliveries of the partitions this process owns, urgent first.

    Kafka decides the ownership (`listener`): on assignment the partition's open deliveries are
    loaded from MongoDB, on revocation the pass in progress finishes before they are dropped, so
    two processes never send the same delivery. Each pass takes what is due; the deadline
    checks run once per `poll_seconds`."""

    def __init__(
        self,
        schedule: Schedule,
        ports: Ports,
        *,
        load: Callable[[int], Awaitable[list[Pending]]],
        poll_seconds: float,
        on_outcome: OnOutcome,
        on_missed: Callable[[DeadlineMissed], None],
        on_oldest_pending: Callable[[float], None],
        on_pass: Callable[[int], None] = lambda deliveries: None,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`ready`: waited for before each pass (see `CatchUp`)."""
        self.schedule = schedule
        self._ready = ready
        self._ports = ports
        self._load = load
        self._poll_seconds = poll_seconds
        self._on_outcome = on_outcome
        self._on_missed = on_missed
        self._on_oldest_pending = on_oldest_pending
        self._on_pass = on_pass
        self._wake = asyncio.Event()
        self._turn = asyncio.Lock()  # one pass, load or drop at a time
        self._to_load: set[int] = set()
        self._stopped = False
        self._checked_at = float("-inf")  # when the deadlines were last checked
        self.listener = _Ownership(self)

    def wake(self) -> None:
        self._wake.set()

    async def accept(self, requests: list[tuple[NotificationRequested, int]]) -> None:
        """Record requests from Kafka; the new ones go out with the next pass."""
        for duplicate in await accept_requests(requests, self.schedule, self._ports):
            self._on_outcome(duplicate, "duplicate")
        self.wake()

    async def assigned(self, partitions: set[int]) -> None:
        self._to_load |= partitions
        self.wake()

    async def revoked(self, partitions: set[int]) -> None:
        async with self._turn:  # the pass in progress ends first
            self._to_load -= partitions
            self.schedule.drop_partitions(partitions)
            # The next owner loads these partitions' open deliveries from the records.
            await self._ports.recorder.drain()

    async def stop(self) -> None:
        """At shutdown, before leaving the consumer group (which revokes nothing: the next
        owner just takes over): the pass in progress ends and records what it sent, and
        nothing more is sent from here."""
        async with self._turn:
            self._stopped = True
            self._to_load.clear()
            self.schedule.drop_partitions(self.schedule.partitions())
            await self._ports.recorder.drain()

    async def run(self) -> None:
        """One pass after another until cancelled; a failed pass (a database outage: the
        schedule is still there next time) is retried after a short pause."""
        await keep_running(
            self._pass, name="scheduler pass", retry_seconds=min(self._poll_seconds, 1.0)
        )

    async def _pass(self) -> None:
        self._wake.clear()
        if self._stopped:  # nothing more is sent from here: wait to be cancelled
            await asyncio.Event().wait()
        if self._ready is not None:
            await self._ready()
        async with self._turn:
            if self._stopped:  # stopped while waiting for the turn
                return
            await self._load_assigned()
            attempted = await run_pass(self.schedule, self._ports)
        if attempted:
            self._on_pass(len(attempted))
        for item in attempted:
            self._on_outcome(item.request, item.outcome)
            # The dedupe key names the event and recipient ids, never an address.
            log.debug("%s %s", item.outcome, item.request.payload.dedupe_key)
        if time.monotonic() - self._checked_at >= self._poll_seconds:
            self._checked_at = time.monotonic()
            await self._check_deadlines()
        if len(attempted) < PASS_SIZE:  # a full pass goes again at once: more is due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._wait_seconds())

    async def _load_assigned(self) -> None:
        for partition in sorted(self._to_load):
            await take_over(await self._load(partition), self.schedule, self._ports)
            self._to_load.discard(partition)
            log.info("partition %d: %d open deliveries", partition, len(self.schedule))

    def _wait_seconds(self) -> float:
        due = self.schedule.next_due()
        if due is None:
            return self._poll_seconds
        wait = (due - self._ports.now()) / timedelta(seconds=1)
        return min(max(wait, 0.0), self._poll_seconds)

    async def _check_deadlines(self) -> None:
        async with self._turn:
            missed = await expire_overdue(self.schedule, self._ports)
        for event in missed:
            log.warning(
                "deadline missed: %s for %s", event.payload.kind, event.payload.recipient_id
            )
            self._on_missed(event)
        oldest = self.schedule.oldest_deadline_bound()
        age = (self._ports.now() - oldest).total_seconds() if oldest else 0.0
        self._on_oldest_pending(age)


class _Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._scheduler.revoked({partition.partition for partition in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._scheduler.assigned({partition.partition for partition in assigned})


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    scheduler: Scheduler,
    consent_view: MongoConsentView,
    zones: MongoSchoolZones,
    group_id: str,
    dead_letters: DeadLetters,
    consent_caught_up: CatchUp,
) -> None:
    @subscribe_batch(
        broker,
        topics,
        NotificationRequested,
        of=NotificationRequested,
        group_id=group_id,
        dead_letters=dead_letters,
        listener=scheduler.listener,
    )
    async def on_notification_requested(
        requests: list[NotificationRequested], message: KafkaMessage
    ) -> None:
        """Record the requests (a redelivery finds them recorded) and wake the scheduler.

        Sending happens there, urgent first: a backlog of ordinary marks on the topic is
        recorded quickly and never stands in front of a final result (the priority lane).
        """
        partitions = partitions_of(message, requests)
        await scheduler.accept(list(zip(requests, partitions, strict=True)))

    @subscribe(broker, topics, SchoolChanged, group_id=group_id)
    async def on_reference_change(change: ReferenceEvent) -> None:
        """Only a school's time zone matters here (quiet hours)."""
        if isinstance(change, SchoolChanged):
            await zones.save(change.payload.school_id, change.payload.timezone)

    @subscribe(broker, topics, ConsentRevoked, group_id=group_id)
    async def on_consent_change(change: ConsentChange, message: KafkaMessage) -> None:
        """Keep the view of consent the last check before each send reads."""
        await _apply_consent_change(change, consent_view)
        record = message.raw_message
        if isinstance(record, ConsumerRecord):  # one message, not a batch
            consent_caught_up.took_in(record.partition, record.offset)


async def _apply_consent_change(change: ConsentChange, consent_view: MongoConsentView) -> None:
    """The change, in the view of consent the last check before each send reads."""
    match change:
        case ConsentRevoked(payload=p):
            await consent_view.revoked(p.school_id, p.recipient_id, p.student_id, p.effective_at)
        case ConsentRefused(payload=p):
            await consent_view.revoked(
                p.school_id,
                p.recipient_id,
                p.student_id,
                p.effective_at,
                reason="consent refused",
            )
        case ConsentGranted(payload=p):
            await consent_view.granted(p.school_id, p.recipient_id, p.student_id, p.effective_at)
        case PreferencesChanged(payload=p):
            await consent_view.set_paper_only(p.school_id, p.recipient_id, p.paper_only)
        case ContactChanged(payload=p):
            await consent_view.contact_changed(
                p.school_id, p.recipient_id, p.channel, p.effective_at
            )
