"""Delivering one notification request: at most once per dedupe key, retried while it may be.

A delivery moves queued → sending → sent, or → waiting to retry (temporary failure, with
exponential backoff and jitter) → … → sent | failed; or → cancelled when the consent no longer
allows it, checked again right before every attempt.

A final result (deadline-bound) falls back across the recipient's channels by the
`FallbackPolicy`: by default e-mail first, and SMS when e-mail has failed or is late.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from schemas import Envelope, NotificationRequested, NotificationSent, NotificationSentPayload
from schemas.notify import (
    Channel,
    DeadlineMissed,
    DeadlineMissedPayload,
    NotificationCancelled,
    NotificationEndedPayload,
    NotificationFailed,
    QuietHours,
)

PRODUCER = "notifier"

Status = Literal["queued", "sending", "sent", "retry_wait", "failed", "cancelled", "expired"]


class TemporaryFailureError(Exception):
    """Worth another try later: SMTP 4xx, HTTP 5xx or 429, a timeout, a refused connection."""


class PermanentFailureError(Exception):
    """Will not get better by waiting: SMTP 5xx, a rejected number, a malformed request."""


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 8
    jitter: float = 0.2

    def delay(self, attempts: int, random: Callable[[], float]) -> timedelta:
        """The wait after the `attempts`-th failure: doubling, capped, ±jitter so that many
        deliveries failing together do not retry together."""
        base = min(self.first_delay * self.factor ** (attempts - 1), self.max_delay)
        return base * (1 + self.jitter * (2 * random() - 1))


@dataclass(frozen=True)
class Delivery:
    request: NotificationRequested
    status: Status
    attempts: int


def message_id_for(dedupe_key: str, domain: str = "vestnik.local") -> str:
    """A Message-ID (and SMS client id) that stays the same for every attempt, so the
    receiving side can fold a repeat after a crash between its acceptance and our record."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


# An SMS held for quiet hours, or a channel waiting its turn, must still start this long
# before the deadline.
DEADLINE_MARGIN = timedelta(hours=1)
UNFINISHED: frozenset[Status] = frozenset({"queued", "sending", "retry_wait"})


@dataclass(frozen=True)
class FallbackPolicy:
    """Clause 9: how a final result reaches a recipient who consented to several channels.

    "sequential": the channels in `order` take turns. A channel waits while an earlier one is
    still being tried, for `wait` per channel ahead of it, but never so long that the deadline
    is at risk; it goes at once when the earlier one fails, and is dropped when that one is
    sent. "parallel": every consented channel at once. Channels outside `order` (the
    personal-account inbox) never wait, and news without a deadline never waits.
    """

    mode: Literal["sequential", "parallel"] = "sequential"
    order: tuple[Channel, ...] = ("email", "sms")
    wait: timedelta = timedelta(hours=2)

    def _place(self, request: NotificationRequested) -> int | None:
        payload = request.payload
        if self.mode == "parallel" or payload.deadline is None or payload.channel not in self.order:
            return None
        return self.order.index(payload.channel)

    def earlier(self, request: NotificationRequested) -> tuple[Channel, ...]:
        place = self._place(request)
        return () if place is None else self.order[:place]

    def later(self, request: NotificationRequested) -> tuple[Channel, ...]:
        place = self._place(request)
        return () if place is None else self.order[place + 1 :]

    def start_at(
        self, request: NotificationRequested, now: datetime, siblings: Mapping[str, Status]
    ) -> datetime:
        """When to make the first attempt, given the state of the recipient's other channels
        for the same event."""
        # A channel ahead that has ended (sent or not) leaves nothing to wait for: the request
        # is due now, to be sent, or dropped as not needed.
        ahead = [c for c in self.earlier(request) if siblings.get(c) in UNFINISHED]
        deadline = request.payload.deadline
        if not ahead or deadline is None:
            return now
        return max(now, min(now + self.wait * len(ahead), deadline - DEADLINE_MARGIN))


class Deliveries(Protocol):
    async def accept(
        self, request: NotificationRequested, now: datetime, *, start_at: datetime
    ) -> bool: ...
    async def claim(self, dedupe_key: str, now: datetime) -> Delivery | None: ...
    async def finish(
        self, dedupe_key: str, status: Status, now: datetime, **fields: Any
    ) -> None: ...
    async def retry_at(self, dedupe_key: str, when: datetime, error: str) -> None: ...
    async def postpone(self, dedupe_key: str, until: datetime) -> None: ...
    async def siblings(self, source_event_id: str, recipient_id: str) -> dict[str, Status]: ...
    async def bring_forward(
        self, source_event_id: str, recipient_id: str, channels: tuple[str, ...], now: datetime
    ) -> None: ...


class Sender(Protocol):
    async def send(self, request: NotificationRequested, message_id: str) -> None: ...


class SchoolZones(Protocol):
    async def zone(self, school_id: str) -> ZoneInfo: ...


class ConsentView(Protocol):
    async def why_not(self, request: NotificationRequested) -> str | None: ...


@dataclass(frozen=True)
class Ports:
    deliveries: Deliveries
    senders: dict[str, Sender]
    consent: ConsentView
    publish: Callable[[Envelope[Any]], Awaitable[None]]
    policy: RetryPolicy
    now: Callable[[], datetime]
    random: Callable[[], float]
    zones: SchoolZones  # each school's time zone, for quiet hours
    fallback: FallbackPolicy = FallbackPolicy()


Outcome = Literal[
    "sent", "retry_wait", "failed", "cancelled", "superseded", "postponed", "not due"
]  # fmt: skip


def quiet_until(now: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours around `now` end (in the school's zone), or None outside them."""
    local = now.astimezone(zone)
    start = local.replace(hour=quiet.start.hour, minute=quiet.start.minute, second=0, microsecond=0)
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if quiet.start <= quiet.end:  # e.g. 13:00–15:00, within one day
        return end if start <= local < end else None
    if local >= start:  # e.g. 21:00–08:00: before midnight, wait for tomorrow morning
        return end + timedelta(days=1)
    return end if local < end else None


def hold_for_quiet_hours(
    request: NotificationRequested, now: datetime, zone: ZoneInfo
) -> datetime | None:
    """Until when an SMS waits: regular news waits for morning; a final result does not wait
    if morning would come too close to its deadline."""
    quiet = request.payload.quiet_hours
    if request.payload.channel != "sms" or quiet is None:
        return None
    until = quiet_until(now, quiet, zone)
    deadline = request.payload.deadline
    if until is None or (deadline is not None and until > deadline - DEADLINE_MARGIN):
        return None
    return until


async def accept(request: NotificationRequested, ports: Ports) -> bool:
    """Record a request (False if its dedupe key is known), due at once or when its turn in
    the fallback order comes."""
    now = ports.now()
    if not (earlier := ports.fallback.earlier(request)):
        return await ports.deliveries.accept(request, now, start_at=now)
    payload = request.payload
    source, recipient = str(payload.source_event_id), payload.recipient_id
    siblings = await ports.deliveries.siblings(source, recipient)
    start_at = ports.fallback.start_at(request, now, siblings)
    if not await ports.deliveries.accept(request, now, start_at=start_at):
        return False
    if start_at > now:
        # The channel ahead may have ended between our look and our insert, bringing forward
        # everything behind it but us: look again.
        siblings = await ports.deliveries.siblings(source, recipient)
        if not any(siblings.get(channel) in UNFINISHED for channel in earlier):
            await ports.deliveries.bring_forward(source, recipient, (payload.channel,), now)
    return True


async def attempt(dedupe_key: str, ports: Ports) -> tuple[Outcome, NotificationRequested | None]:
    """One attempt at a delivery that is due; any other caller finds it claimed."""
    delivery = await ports.deliveries.claim(dedupe_key, ports.now())
    if delivery is None:
        return "not due", None
    return await _attempt(delivery, ports), delivery.request


async def _attempt(delivery: Delivery, ports: Ports) -> Outcome:
    now = ports.now()
    payload = delivery.request.payload
    dedupe_key = payload.dedupe_key
    if earlier := ports.fallback.earlier(delivery.request):
        siblings = await ports.deliveries.siblings(
            str(payload.source_event_id), payload.recipient_id
        )
        if reached := [channel for channel in earlier if siblings.get(channel) == "sent"]:
            await _end(delivery, "cancelled", f"not needed: reached by {reached[0]}", ports)
            return "superseded"
    if payload.channel == "sms" and payload.quiet_hours is not None:
        # Only an SMS can be held, so only an SMS needs the school's zone looked up.
        zone = await ports.zones.zone(payload.content.school_id)
        if (until := hold_for_quiet_hours(delivery.request, now, zone)) is not None:
            await ports.deliveries.postpone(dedupe_key, until)
            return "postponed"
    if reason := await ports.consent.why_not(delivery.request):
        await _end(delivery, "cancelled", reason, ports)
        return "cancelled"
    message_id = message_id_for(dedupe_key)
    try:
        await ports.senders[payload.channel].send(delivery.request, message_id)
    except PermanentFailureError as error:
        await _end(delivery, "failed", str(error), ports)
        return "failed"
    except TemporaryFailureError as error:
        if delivery.attempts >= ports.policy.max_attempts:
            await _end(delivery, "failed", f"gave up after {delivery.attempts}: {error}", ports)
            return "failed"
        wait = ports.policy.delay(delivery.attempts, ports.random)
        await ports.deliveries.retry_at(dedupe_key, now + wait, str(error))
        return "retry_wait"
    sent_at = ports.now()
    await ports.deliveries.finish(dedupe_key, "sent", sent_at, message_id=message_id)
    await _next_channel_now(delivery.request, ports)
    await ports.publish(
        NotificationSent.new(
            NotificationSentPayload(
                student_id=payload.student_id, dedupe_key=dedupe_key,
                recipient_id=payload.recipient_id, channel=payload.channel,
                message_id=message_id, sent_at=sent_at,
            ),
            producer=PRODUCER, correlation_id=delivery.request.correlation_id,
        )
    )  # fmt: skip
    return "sent"


async def _end(
    delivery: Delivery, status: Literal["failed", "cancelled"], reason: str, ports: Ports
) -> None:
    payload = delivery.request.payload
    now = ports.now()
    await ports.deliveries.finish(payload.dedupe_key, status, now, last_error=reason)
    await _next_channel_now(delivery.request, ports)
    event_type = NotificationFailed if status == "failed" else NotificationCancelled
    await ports.publish(
        event_type.new(
            NotificationEndedPayload(
                student_id=payload.student_id, dedupe_key=payload.dedupe_key,
                recipient_id=payload.recipient_id, channel=payload.channel, reason=reason,
                attempts=delivery.attempts, ended_at=now,
            ),
            producer=PRODUCER, correlation_id=delivery.request.correlation_id,
        )
    )  # fmt: skip


async def _next_channel_now(request: NotificationRequested, ports: Ports) -> None:
    """This channel has ended, one way or the other: the channels waiting behind it need not
    wait any longer (they go, or find they are not needed)."""
    if later := ports.fallback.later(request):
        payload = request.payload
        await ports.deliveries.bring_forward(
            str(payload.source_event_id), payload.recipient_id, later, ports.now()
        )


class OverdueDeliveries(Protocol):
    async def overdue(self, now: datetime) -> list[dict[str, Any]]: ...
    async def close_overdue(self, source_event_id: str, recipient_id: str) -> list[str]: ...


class MissRecords(Protocol):
    async def record(self, miss: dict[str, Any]) -> bool: ...


async def record_missed_deadlines(
    *,
    deliveries: OverdueDeliveries,
    misses: MissRecords,
    publish: Callable[[Envelope[Any]], Awaitable[None]],
    now: datetime,
) -> list[DeadlineMissed]:
    """For each recipient whose deadline passed with no channel sent: stop trying, keep them
    on the staff's list and say so (`DeadlineMissed`)."""
    missed = []
    for doc in await deliveries.overdue(now):
        request = NotificationRequested.model_validate(doc["request"])
        payload = request.payload
        channels = await deliveries.close_overdue(doc["source_event_id"], doc["recipient_id"])
        if not channels:
            continue  # another channel reached them in time
        assert payload.deadline is not None
        event = DeadlineMissed.new(
            DeadlineMissedPayload(
                student_id=payload.student_id, source_event_id=payload.source_event_id,
                recipient_id=payload.recipient_id, recipient_name=payload.recipient_name,
                school_id=payload.content.school_id, kind=payload.content.kind,
                deadline=payload.deadline, channels_tried=tuple(channels),
            ),
            producer=PRODUCER, correlation_id=request.correlation_id,
        )  # fmt: skip
        fields = event.payload.model_dump(mode="json")
        if await misses.record({"_id": f"{payload.source_event_id}:{payload.recipient_id}",
                                **fields, "deadline": payload.deadline}):  # fmt: skip
            await publish(event)
            missed.append(event)
    return missed
