"""The notifier's use cases: take requests in, send what is due, give up on missed deadlines.

Each works on a batch, with a fixed number of database commands per batch: the requests a Kafka
poll brought, the deliveries one scheduler pass takes. The schedule (`schedule.py`) says what
is due without asking the database; consent is checked right before sending, with one query
per school in the pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from schemas import Envelope, NotificationRequested, NotificationSent, NotificationSentPayload
from schemas.notify import (
    DeadlineMissed,
    DeadlineMissedPayload,
    NotificationCancelled,
    NotificationEndedPayload,
    NotificationFailed,
)
from services.notifier.domain import (
    PRODUCER,
    UNFINISHED,
    FallbackPolicy,
    NotHandedOverError,
    PermanentFailureError,
    RetryPolicy,
    Status,
    TemporaryFailureError,
    WithdrawnError,
    after_failure,
    message_id_for,
    verdict,
)
from services.notifier.schedule import Pending, Schedule
from services.notifier.store import Recorded
from services.shared.tasks import stop_if_cancelled

log = logging.getLogger(__name__)

PASS_SIZE = 200  # deliveries a scheduler pass takes at most: a final result waits one pass


class Deliveries(Protocol):
    async def insert_new(self, pending: list[Pending], now: datetime) -> list[bool]: ...
    async def record(self, outcomes: list[Recorded]) -> None: ...
    async def status_of(self, keys: list[str]) -> dict[str, Status]: ...


class Sender(Protocol):
    async def send_batch(
        self, messages: list[tuple[NotificationRequested, str]]
    ) -> list[Exception | None]:
        """Send each (request, message id); each one's failure (a `TemporaryFailureError` or
        `PermanentFailureError`), or None when the provider accepted it."""
        ...


class ConsentView(Protocol):
    async def refusals(self, requests: list[NotificationRequested]) -> dict[str, str]: ...


class SchoolZones(Protocol):
    async def zone(self, school_id: str) -> ZoneInfo: ...


class Recorder(Protocol):
    async def add(self, outcomes: list[Recorded]) -> None:
        """Record the outcomes of a pass, with their status events (the outbox's relay
        publishes them)."""
        ...

    async def drain(self) -> None:
        """Return once everything added is recorded (before another process takes over)."""
        ...


class MissRecords(Protocol):
    async def record(self, misses: list[DeadlineMissed]) -> list[bool]:
        """Each miss with its event; for each, False if it was recorded already."""
        ...


@dataclass(frozen=True)
class Ports:
    deliveries: Deliveries
    senders: dict[str, Sender]
    consent: ConsentView
    policy: RetryPolicy
    now: Callable[[], datetime]
    random: Callable[[], float]
    zones: SchoolZones  # each school's time zone, for quiet hours
    misses: MissRecords
    recorder: Recorder
    fallback: FallbackPolicy
    # Where a pass spends its time (consent, send, record, publish), for ops to see.
    on_step: Callable[[str, float], None] = lambda step, seconds: None
    # At most this many of a channel per pass: a provider's rate limit would hold the rest
    # of a larger batch in the sender, each one sent longer after its consent check.
    per_pass: Mapping[str, int] = field(default_factory=dict)


async def accept_requests(
    requests: list[tuple[NotificationRequested, int]], schedule: Schedule, ports: Ports
) -> list[NotificationRequested]:
    """Record requests (with the partition each came from) and schedule the new ones, due
    at once or when their turn in the fallback order comes. Returns the duplicates."""
    now = ports.now()
    in_batch: dict[tuple[str, str], dict[str, Status]] = {}
    fresh = [
        Pending(request, partition, 0, _start_at(request, schedule, in_batch, ports, now))
        for request, partition in requests
    ]
    # Scheduled only once stored: what is sent must have a record to say so.
    is_new = await ports.deliveries.insert_new(fresh, now)
    duplicates, moved = [], []
    for pending, new in zip(fresh, is_new, strict=True):
        if not new:  # known: open and scheduled already, or ended
            duplicates.append(pending.request)
            continue
        # The channel ahead may have ended while we stored: look again.
        if (
            pending.due > now
            and (due := _start_at(pending.request, schedule, {}, ports, now)) < pending.due
        ):
            pending.due = due
            moved.append(Recorded(pending.key, pending.status, 0, now, due=due))
        schedule.add(pending)
    await ports.deliveries.record(moved)
    return duplicates


async def take_over(loaded: list[Pending], schedule: Schedule, ports: Ports) -> None:
    """A partition's open deliveries, into this process's schedule. A channel waiting its
    turn behind one that has ended is due now: the process that ended that one brought the
    others forward in its memory, and may have stopped before recording it."""
    now = ports.now()
    for pending in loaded:
        schedule.add(pending)
    waiting = [
        p
        for p in loaded
        if p.status == "queued" and p.due > now and ports.fallback.earlier(p.request)
    ]
    if not waiting:
        return
    siblings = await _siblings(waiting, schedule, ports)
    moved = []
    for pending in waiting:
        ahead = ports.fallback.earlier(pending.request)
        if any(siblings[pending.key].get(channel) in UNFINISHED for channel in ahead):
            continue
        for brought in schedule.bring_forward(pending.pair, [pending.channel], now):
            moved.append(Recorded(brought.key, brought.status, brought.attempts, now, due=now))
    await ports.deliveries.record(moved)


def _start_at(
    request: NotificationRequested,
    schedule: Schedule,
    in_batch: dict[tuple[str, str], dict[str, Status]],
    ports: Ports,
    now: datetime,
) -> datetime:
    """When the first attempt is due: now, or when its turn in the fallback order comes. The
    requests of the same batch before it count as its siblings too."""
    payload = request.payload
    pair = (str(payload.source_event_id), payload.recipient_id)
    siblings = {**schedule.siblings(pair), **in_batch.get(pair, {})}
    in_batch.setdefault(pair, {})[payload.channel] = "queued"
    if not ports.fallback.earlier(request):
        return now
    return ports.fallback.start_at(request, now, siblings)


@dataclass(frozen=True)
class Attempted:
    request: NotificationRequested
    outcome: str  # sent, retry_wait, failed, cancelled, superseded, postponed


async def run_pass(schedule: Schedule, ports: Ports, limit: int = PASS_SIZE) -> list[Attempted]:
    """Attempt what is due now, urgent first: decide each (superseded by a channel that got
    through, held for quiet hours, cancelled by consent, or sent), send concurrently, then
    record every outcome and publish every status event at once."""
    now = ports.now()
    due = schedule.take_due(now, limit, ports.per_pass)
    if not due:
        return []
    try:
        return await _attempt_all(due, schedule, ports, now)
    except BaseException:
        # Nothing recorded: they are due again (a resend keeps its Message-ID).
        for pending in due:
            schedule.reschedule(pending.key, now, attempts=pending.attempts, status=pending.status)
        raise


async def _attempt_all(
    due: list[Pending], schedule: Schedule, ports: Ports, now: datetime
) -> list[Attempted]:
    clock = _StepClock(ports.on_step)
    requests = [pending.request for pending in due]
    refusals = await ports.consent.refusals(requests)
    siblings = await _siblings(due, schedule, ports)
    clock.step("consent")
    outcomes: dict[str, tuple[Recorded, str]] = {}
    to_send: dict[str, list[Pending]] = defaultdict(list)
    for pending in due:
        payload = pending.request.payload
        zone = None
        if payload.channel == "sms" and payload.quiet_hours is not None:
            zone = await ports.zones.zone(payload.content.school_id)
        decided = verdict(
            pending.request,
            now=now,
            siblings=siblings[pending.key],
            zone=zone,
            refusal=refusals.get(pending.key),
            fallback=ports.fallback,
            handed_over=pending.status == "sending",
        )
        match decided.action:
            case "send":
                to_send[payload.channel].append(pending)
            case "fate_unknown":  # not sent again: a failure that lets the next channel go
                recorded = Recorded(
                    pending.key,
                    "failed",
                    pending.attempts + 1,
                    now,
                    reason=decided.reason,
                    message_id=message_id_for(pending.key),
                    watched=payload.deadline is not None,
                )
                outcomes[pending.key] = (recorded, "failed")
            case "postponed":  # not an attempt: the count stays
                recorded = Recorded(
                    pending.key, "retry_wait", pending.attempts, now, due=decided.until
                )
                outcomes[pending.key] = (recorded, "postponed")
            case "superseded" | "cancelled":
                recorded = Recorded(
                    pending.key, "cancelled", pending.attempts, now, reason=decided.reason
                )
                outcomes[pending.key] = (recorded, decided.action)

    async def send(channel: str, batch: list[Pending]) -> None:
        messages = [(p.request, message_id_for(p.key)) for p in batch]
        try:
            failures: Sequence[Exception | None] = await ports.senders[channel].send_batch(messages)
        except Exception as error:  # the sender itself broke: its messages wait for a retry
            stop_if_cancelled()
            failures = [TemporaryFailureError(f"{channel}: {type(error).__name__}")] * len(batch)
        sent_at = ports.now()
        for pending, failure in zip(batch, failures, strict=True):
            # Not handed over for a reason of ours: the provider never saw it, no attempt.
            attempts = pending.attempts + (not isinstance(failure, NotHandedOverError))
            if failure is None:
                recorded = Recorded(
                    pending.key, "sent", attempts, sent_at, message_id=message_id_for(pending.key)
                )
                outcomes[pending.key] = (recorded, "sent")
                continue
            if isinstance(failure, WithdrawnError):  # consent refused it at the last moment
                recorded = Recorded(
                    pending.key, "cancelled", pending.attempts, sent_at, reason=str(failure)
                )
                outcomes[pending.key] = (recorded, "cancelled")
                continue
            if not isinstance(failure, TemporaryFailureError | PermanentFailureError):
                # This message's own fault (rendering, a reply the sender could not read): it
                # alone fails. By its type only: the text may hold an address.
                failure = PermanentFailureError(f"unexpected {type(failure).__name__}")
            after = after_failure(
                failure, attempts, policy=ports.policy, now=sent_at, random=ports.random
            )
            recorded = Recorded(
                pending.key,
                after.status,
                attempts,
                sent_at,
                due=after.retry_at,
                reason=after.reason,
                # A final result's failure is judged at its deadline, with its other channels.
                watched=after.status == "failed" and pending.request.payload.deadline is not None,
            )
            outcomes[pending.key] = (recorded, after.status)

    await asyncio.gather(*(send(channel, batch) for channel, batch in to_send.items()))
    clock.step("send")
    brought_forward = _apply(outcomes, due, schedule, ports.fallback, ports.now())
    with_events = []
    for pending in due:
        recorded = outcomes[pending.key][0]
        event = _status_event(pending, recorded)
        with_events.append(replace(recorded, events=(event,)) if event else recorded)
    await ports.recorder.add(with_events + brought_forward)
    clock.step("record")
    return [Attempted(p.request, outcomes[p.key][1]) for p in due]


class RecordAtOnce:
    """Each pass's outcomes recorded before the pass ends."""

    def __init__(self, deliveries: Deliveries) -> None:
        self._deliveries = deliveries

    async def add(self, outcomes: list[Recorded]) -> None:
        await self._deliveries.record(outcomes)

    async def drain(self) -> None:
        pass


class RecordBehind:
    """Outcomes recorded in the background, while the next pass sends: the database's work
    overlaps the providers'. A pass waits only when more than `limit` outcomes are still
    unrecorded. If the process dies first, those deliveries are in doubt, like one that dies
    between the provider's acceptance and its record: they are sent again with the same
    Message-ID. A failed write is tried again; nothing is dropped. Kafka is not needed here:
    the status events go into the deliveries, for the outbox's relay."""

    def __init__(
        self, deliveries: Deliveries, *, limit: int = 2000, retry_seconds: float = 1.0
    ) -> None:
        self._deliveries = deliveries
        self._limit = limit
        self._retry_seconds = retry_seconds
        self._outcomes: list[Recorded] = []
        self._writing: asyncio.Task[None] | None = None
        self._written = asyncio.Condition()

    async def add(self, outcomes: list[Recorded]) -> None:
        async with self._written:
            await self._written.wait_for(lambda: len(self._outcomes) < self._limit)
            self._outcomes.extend(outcomes)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write(), name="outcome-recorder")

    async def drain(self) -> None:
        """Wait until everything added is recorded (at shutdown)."""
        while self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)

    async def _write(self) -> None:
        while self._outcomes:
            outcomes = _last_states(self._outcomes)
            self._outcomes = []
            try:
                await self._deliveries.record(outcomes)
            except Exception as error:  # the database away: keep them, try again
                log.warning("recording %d outcomes: %s", len(outcomes), type(error).__name__)
                self._outcomes[:0] = outcomes
                await asyncio.sleep(self._retry_seconds)
            async with self._written:
                self._written.notify_all()


def _last_states(outcomes: list[Recorded]) -> list[Recorded]:
    """A delivery may have moved on twice since the last write (failed and watched, then
    judged at its deadline): its last state is the one to keep, with every event on the way
    (the writes of one piece go in no set order)."""
    last: dict[str, Recorded] = {}
    for outcome in outcomes:
        earlier = last.get(outcome.key)
        events = (*earlier.events, *outcome.events) if earlier else outcome.events
        last[outcome.key] = replace(outcome, events=events)
    return list(last.values())


class _StepClock:
    def __init__(self, report: Callable[[str, float], None]) -> None:
        self._report = report
        self._last = time.monotonic()

    def step(self, name: str) -> None:
        now = time.monotonic()
        self._report(name, now - self._last)
        self._last = now


async def _siblings(
    due: list[Pending], schedule: Schedule, ports: Ports
) -> dict[str, dict[str, Status]]:
    """Each delivery's other channels for the same event, where the fallback needs them. A
    channel ahead that this process never saw (it ended before the process took over the
    partition) is looked up in the records."""
    found: dict[str, dict[str, Status]] = {}
    unknown: dict[str, tuple[str, str]] = {}
    for pending in due:
        found[pending.key] = states = schedule.siblings(pending.pair)
        for channel in ports.fallback.earlier(pending.request):
            if channel not in states:
                source, recipient = pending.pair
                unknown[f"{source}:{recipient}:{channel}"] = (pending.key, channel)
    if unknown:
        for key, status in (await ports.deliveries.status_of(sorted(unknown))).items():
            owner, ahead = unknown[key]
            found[owner][ahead] = status
    return found


def _apply(
    outcomes: dict[str, tuple[Recorded, str]],
    due: list[Pending],
    schedule: Schedule,
    fallback: FallbackPolicy,
    now: datetime,
) -> list[Recorded]:
    """Put each outcome into the schedule; a channel that ended lets the ones behind it go
    now. Returns what that brought forward, to record too."""
    brought: list[Recorded] = []
    for pending in due:
        recorded, _ = outcomes[pending.key]
        if recorded.due is not None:
            schedule.reschedule(
                pending.key, recorded.due, attempts=recorded.attempts, status=recorded.status
            )
            continue
        if recorded.watched:
            schedule.watch(pending.key)
        else:
            schedule.end(pending.key, recorded.status)
        for waiting in schedule.bring_forward(pending.pair, fallback.later(pending.request), now):
            if waiting.key not in outcomes:
                brought.append(
                    Recorded(waiting.key, waiting.status, waiting.attempts, now, due=now)
                )
    return brought


def _status_event(pending: Pending, recorded: Recorded) -> Envelope[Any] | None:
    payload = pending.request.payload
    correlation = pending.request.correlation_id
    if recorded.status == "sent":
        return NotificationSent.new(
            NotificationSentPayload(
                student_id=payload.student_id,
                dedupe_key=payload.dedupe_key,
                recipient_id=payload.recipient_id,
                channel=payload.channel,
                message_id=recorded.message_id or "",
                sent_at=recorded.at,
            ),
            producer=PRODUCER,
            correlation_id=correlation,
        )
    if recorded.status not in ("failed", "cancelled"):
        return None
    event_type = NotificationFailed if recorded.status == "failed" else NotificationCancelled
    return event_type.new(
        NotificationEndedPayload(
            student_id=payload.student_id,
            dedupe_key=payload.dedupe_key,
            recipient_id=payload.recipient_id,
            channel=payload.channel,
            reason=recorded.reason or "",
            attempts=recorded.attempts,
            ended_at=recorded.at,
        ),
        producer=PRODUCER,
        correlation_id=correlation,
    )


async def expire_overdue(schedule: Schedule, ports: Ports) -> list[DeadlineMissed]:
    """Clause 9: for each recipient whose deadline passed with no channel through, stop
    trying (`expired`), keep them on the staff's list and say so (`DeadlineMissed`)."""
    now = ports.now()
    by_pair: dict[tuple[str, str], list[Pending]] = defaultdict(list)
    for pending in schedule.overdue(now):
        by_pair[pending.pair].append(pending)
    if not by_pair:
        return []
    closed: list[Recorded] = []
    candidates: list[tuple[Pending, list[str]]] = []
    for pair, overdue in by_pair.items():
        siblings = schedule.siblings(pair)
        for pending in schedule.in_pair(pair):
            # Still being tried: expired; failed and watched: judged now, so no longer open.
            status: Status = "failed" if pending.status == "failed" else "expired"
            closed.append(
                Recorded(
                    pending.key,
                    status,
                    pending.attempts,
                    now,
                    reason=None if status == "failed" else "deadline passed",
                )
            )
            schedule.end(pending.key, status)
        if "sent" not in siblings.values():  # no channel reached them in time
            candidates.append((overdue[0], sorted(siblings)))
    await ports.deliveries.record(closed)
    misses = [_miss(pending, channels) for pending, channels in candidates]
    recorded = await ports.misses.record(misses)
    return [miss for miss, is_new in zip(misses, recorded, strict=True) if is_new]


def _miss(pending: Pending, channels: list[str]) -> DeadlineMissed:
    payload = pending.request.payload
    assert payload.deadline is not None
    return DeadlineMissed.new(
        DeadlineMissedPayload(
            student_id=payload.student_id,
            source_event_id=payload.source_event_id,
            recipient_id=payload.recipient_id,
            recipient_name=payload.recipient_name,
            school_id=payload.content.school_id,
            kind=payload.content.kind,
            deadline=payload.deadline,
            channels_tried=tuple(channels),
        ),
        producer=PRODUCER,
        correlation_id=pending.request.correlation_id,
    )
