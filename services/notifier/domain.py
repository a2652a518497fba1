"""Delivering one notification request: at most one e-mail per dedupe key."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal, Protocol

from schemas import NotificationRequested, NotificationSent, NotificationSentPayload

PRODUCER = "notifier"

DeliveryStatus = Literal["queued", "sent"]
Outcome = Literal["sent", "duplicate"]


def message_id_for(dedupe_key: str, domain: str = "vestnik.local") -> str:
    """A Message-ID that stays the same for every attempt, so a receiver can fold a repeat."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class Deliveries(Protocol):
    async def claim(self, request: NotificationRequested) -> DeliveryStatus:
        """Record the request as queued unless known; return its current status."""
        ...

    async def mark_sent(self, dedupe_key: str, message_id: str, sent_at: datetime) -> None: ...


class Mailer(Protocol):
    async def send(self, request: NotificationRequested, message_id: str) -> None: ...


async def deliver(
    request: NotificationRequested,
    *,
    deliveries: Deliveries,
    mailer: Mailer,
    publish_status: Callable[[NotificationSent], Awaitable[None]],
    now: Callable[[], datetime],
) -> Outcome:
    key = request.payload.dedupe_key
    if await deliveries.claim(request) == "sent":
        return "duplicate"
    message_id = message_id_for(key)
    await mailer.send(request, message_id)
    sent_at = now()
    await deliveries.mark_sent(key, message_id, sent_at)
    await publish_status(
        NotificationSent.new(
            NotificationSentPayload(
                student_id=request.payload.student_id,
                dedupe_key=key,
                recipient_id=request.payload.recipient_id,
                channel=request.payload.channel,
                message_id=message_id,
                sent_at=sent_at,
            ),
            producer=PRODUCER,
            correlation_id=request.correlation_id,
        )
    )
    return "sent"
