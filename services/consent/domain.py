"""Who is told about a journal event, on which channel, and why (not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from schemas import (
    Channel,
    MarkPosted,
    NotificationRequested,
    NotificationRequestedPayload,
)

PRODUCER = "consent"

ConsentDecision = Literal["granted", "refused"]
ProvenanceForm = Literal["written", "electronic"]


@dataclass(frozen=True)
class ContactProvenance:
    """How the parent handed the contact over (clause 10): a paper document or a signed one."""

    form: ProvenanceForm
    document: str


@dataclass(frozen=True)
class Guardian:
    guardian_id: str
    school_id: str
    name: str
    student_ids: tuple[str, ...]
    consent: ConsentDecision | None
    email: str | None = None
    email_provenance: ContactProvenance | None = None


@dataclass(frozen=True)
class Decision:
    recipient_id: str
    channel: Channel
    notify: bool
    reason: str


def decide_email(guardian: Guardian) -> Decision:
    def decision(notify: bool, reason: str) -> Decision:
        return Decision(guardian.guardian_id, "email", notify, reason)

    if guardian.consent is None:
        return decision(False, "no consent registered")
    if guardian.consent == "refused":
        return decision(False, "consent refused")
    if guardian.email is None:
        return decision(False, "no e-mail address")
    if guardian.email_provenance is None:
        return decision(False, "e-mail has no written or signed provenance")
    return decision(True, "consent granted, e-mail with provenance")


def notification_requests(
    event: MarkPosted, guardians: list[Guardian]
) -> tuple[list[NotificationRequested], list[Decision]]:
    requests, decisions = [], []
    for guardian in guardians:
        decision = decide_email(guardian)
        decisions.append(decision)
        if decision.notify and guardian.email is not None:
            payload = NotificationRequestedPayload(
                student_id=event.payload.student_id,
                dedupe_key=f"{event.event_id}:{guardian.guardian_id}:{decision.channel}",
                source_event_id=event.event_id,
                recipient_id=guardian.guardian_id,
                recipient_name=guardian.name,
                channel=decision.channel,
                address=guardian.email,
                content=event.payload,
            )
            requests.append(
                NotificationRequested.new(
                    payload,
                    producer=PRODUCER,
                    occurred_at=event.occurred_at,
                    correlation_id=event.correlation_id,
                )
            )
    return requests, decisions


class Registry(Protocol):
    async def guardians_of(self, student_id: str) -> list[Guardian]: ...


async def route_mark_posted(
    event: MarkPosted,
    *,
    registry: Registry,
    publish: Callable[[NotificationRequested], Awaitable[None]],
) -> list[Decision]:
    guardians = await registry.guardians_of(event.payload.student_id)
    requests, decisions = notification_requests(event, guardians)
    for request in requests:
        await publish(request)
    return decisions
