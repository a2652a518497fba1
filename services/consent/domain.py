"""Who is told about a journal event, on which channel, and why (not).

A recipient is told on a channel only if all of these hold: they did not declare paper only;
a consent for that student is granted, in force and not revoked (152-FZ; a parent acts for a
minor); they want that category on that channel; and, for e-mail and SMS, they handed the
contact over in writing or with a verified electronic signature (clause 10).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from schemas import Envelope, NotificationRequested
from schemas.notify import Category, Channel, NotificationRequestedPayload, QuietHours

PRODUCER = "consent"
CHANNELS: tuple[Channel, ...] = ("email", "sms", "inbox")
RESULT_DEADLINE = timedelta(hours=24)  # clause 9
# The namespace of request event ids: the same event, recipient and channel is the same request.
REQUESTS = uuid.UUID("6f1b2c1e-6c43-4b8e-9f61-3d1c5a0e2b7a")

CATEGORY_OF_KIND: dict[str, Category] = {
    "mark_posted": "marks",
    "mark_corrected": "marks",
    "mark_retracted": "marks",
    "absence_recorded": "attendance",
    "final_mark_posted": "final_results",
    "final_mark_deferred": "final_results",
    "exam_result_posted": "final_results",
    "weekly_digest": "weekly_digest",
    "lesson_change_posted": "lesson_changes",
    "lesson_change_corrected": "lesson_changes",
    "lesson_change_retracted": "lesson_changes",
    "assessment_planned": "schedule",
    "assessment_rescheduled": "schedule",
    "assessment_cancelled": "schedule",
    "homework_assigned": "homework",
    "homework_corrected": "homework",
    "homework_retracted": "homework",
    "recommendation_posted": "recommendations",
    "recommendation_corrected": "recommendations",
    "recommendation_retracted": "recommendations",
}
# Until a recipient says otherwise: final results on every channel, the rest by e-mail and in
# the personal account, SMS kept for what cannot wait (a lesson change goes by e-mail and SMS
# only for today or tomorrow: see services.consent.news).
DEFAULT_CHANNELS: dict[Category, frozenset[Channel]] = {
    "marks": frozenset({"email", "inbox"}),
    "attendance": frozenset({"email", "inbox"}),
    "final_results": frozenset({"email", "sms", "inbox"}),
    "lesson_changes": frozenset({"email", "sms", "inbox"}),
    "schedule": frozenset({"email", "inbox"}),
    "homework": frozenset({"inbox"}),
    "recommendations": frozenset({"email", "inbox"}),
    "weekly_digest": frozenset({"email"}),
    "forecast": frozenset({"email", "inbox"}),
}

RecipientKind = Literal["guardian", "student"]
ConsentDecision = Literal["granted", "refused"]


@dataclass(frozen=True)
class Recipient:
    recipient_id: str
    school_id: str
    name: str
    kind: RecipientKind
    student_ids: tuple[str, ...]
    relation: str | None = None  # a guardian's relation to the student: «мать», «опекун»
    snils: str | None = None  # where the school binds electronic signatures to SNILS


@dataclass(frozen=True)
class Consent:
    """One consent (or refusal) document, as 152-FZ art. 9 requires since 2025."""

    consent_id: str
    school_id: str
    recipient_id: str  # who gives it: the legal representative, or an adult student
    student_id: str  # whose data
    decision: ConsentDecision
    valid_from: date
    valid_until: date | None
    registered_at: datetime
    revoked_at: datetime | None = None

    def standing(self, now: datetime) -> str | None:
        """None when it lets us inform electronically; otherwise why not."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return f"consent revoked on {self.revoked_at.date().isoformat()}"
        if self.decision == "refused":
            return "consent refused"
        if now.date() < self.valid_from:
            return "consent not yet in force"
        if self.valid_until is not None and now.date() > self.valid_until:
            return "consent expired"
        return None


@dataclass(frozen=True)
class Contact:
    channel: Literal["email", "sms"]
    address: str
    provenance: str  # «written: заявление № 17», «electronic: signed by …»
    as_of: datetime | None = None  # when it was handed over: its ContactChanged's effective_at


@dataclass(frozen=True)
class Preferences:
    channels: dict[Category, frozenset[Channel]] = field(
        default_factory=lambda: dict(DEFAULT_CHANNELS)
    )
    paper_only_reason: str | None = None
    sms_quiet_hours: QuietHours = field(default_factory=QuietHours)


@dataclass(frozen=True)
class RecipientFile:
    """Everything the filter needs about one recipient of one student's news."""

    recipient: Recipient
    consent: Consent | None  # the latest registered for this student
    contacts: dict[str, Contact]
    preferences: Preferences


@dataclass(frozen=True)
class Decision:
    recipient_id: str  # "*": about the event as a whole, before any recipient was looked up
    channel: Channel | Literal["*"]
    notify: bool
    reason: str
    student_ids: tuple[str, ...] = ()  # a class's fact: the recipient's children it was about


def masked_address(channel: str, address: str) -> str:
    """Enough of an address to recognise it on a settings page, not to read it off a screen:
    `m***@example.org`, `+7 *** ***-45-67`."""
    if channel == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:2]} *** ***-{address[-4:-2]}-{address[-2:]}"


def why_not(file: RecipientFile, channel: Channel, category: Category, now: datetime) -> str | None:
    if file.preferences.paper_only_reason is not None:
        return f"paper only: {file.preferences.paper_only_reason}"
    if file.consent is None:
        return "no consent registered"
    if (standing := file.consent.standing(now)) is not None:
        return standing
    if channel not in file.preferences.channels.get(category, frozenset()):
        return f"{category} not wanted by {channel}"
    if channel != "inbox" and channel not in file.contacts:
        return f"no {channel} contact with written or signed provenance"
    return None


# How long a "yes" to the notifier's question holds: the notifier hands each message over
# within it (less a margin) or asks again, and a change that could turn one of them into a
# "no" is answered only once the windows it overlaps have ended. A change accepted is thus
# never followed by a message it stops: consent's answer and the provider's dot cannot
# straddle it.
HAND_OVER_WINDOW = timedelta(seconds=5)


def hand_over_subjects(recipient_ids: Sequence[str], student_ids: Sequence[str]) -> list[str]:
    """What a hand-over window holds still, and what a change waits for: the recipients asked
    about, and the children their notices concern (a parent's revocation speaks for a student
    recipient too)."""
    return sorted({f"recipient:{r}" for r in recipient_ids} | {f"student:{s}" for s in student_ids})


@dataclass(frozen=True)
class Notice:
    """A notice made earlier and about to go out, as the notifier holds it."""

    recipient_id: str
    student_ids: tuple[str, ...]  # every child it is about
    channel: Channel
    category: Category
    address: str | None


def why_not_now(notice: Notice, files: dict[str, list[RecipientFile]], now: datetime) -> str | None:
    """Why `notice` may no longer go out (None: it may). `files`: each of its children's
    recipients as they stand now. It passes the filter that made it (`why_not`) again, for every
    child, and its address must still be the one the parent handed over. A sign-in code
    (`account`) is asked for by the person at the address they typed: only that is checked by
    the account, when it is asked for."""
    if notice.category == "account":
        return None
    for student_id in notice.student_ids:
        file = next(
            (
                f
                for f in files.get(student_id, [])
                if f.recipient.recipient_id == notice.recipient_id
            ),
            None,
        )
        if file is None:
            return "no longer a recipient of this student's news"
        if (reason := why_not(file, notice.channel, notice.category, now)) is not None:
            return reason
        contact = file.contacts.get(notice.channel)
        if notice.channel != "inbox" and (contact is None or contact.address != notice.address):
            return f"{notice.channel} contact changed since the notice was made"
    return None


def notification_requests(
    event: Envelope[Any], files: list[RecipientFile], now: datetime
) -> tuple[list[NotificationRequested], list[Decision]]:
    facts = event.payload
    category = CATEGORY_OF_KIND[facts.kind]
    urgent = category == "final_results"
    deadline = facts.obtained_at + RESULT_DEADLINE if urgent else None
    requests, decisions = [], []
    for file in files:
        for channel in CHANNELS:
            reason = why_not(file, channel, category, now)
            recipient_id = file.recipient.recipient_id
            decisions.append(Decision(recipient_id, channel, reason is None, reason or "notified"))
            if reason is not None:
                continue
            requests.append(
                request_for(
                    event,
                    file,
                    channel,
                    student_id=facts.student_id,
                    category=category,
                    priority="urgent" if urgent else "normal",
                    deadline=deadline,
                    quiet_hours=file.preferences.sms_quiet_hours if channel == "sms" else None,
                )
            )
    return requests, decisions


def request_for(
    event: Envelope[Any], file: RecipientFile, channel: Channel, **fields: Any
) -> NotificationRequested:
    """The request telling `file`'s recipient of `event` on `channel`: its event id and dedupe
    key derive from the three, so a redelivered event makes the same request."""
    recipient_id = file.recipient.recipient_id
    contact = file.contacts.get(channel)
    payload = NotificationRequestedPayload(
        dedupe_key=f"{event.event_id}:{recipient_id}:{channel}",
        source_event_id=event.event_id,
        recipient_id=recipient_id,
        recipient_name=file.recipient.name,
        channel=channel,
        address=contact.address if contact else None,
        contact_as_of=contact.as_of if contact else None,
        content=event.payload,
        **fields,
    )
    return NotificationRequested.new(
        payload,
        producer=PRODUCER,
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        event_id=uuid.uuid5(REQUESTS, payload.dedupe_key),
    )


class Registry(Protocol):
    async def files_for_students(
        self, students: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list[RecipientFile]]: ...
    async def record_decisions(
        self, decided: list[tuple[Envelope[Any], list[Decision]]]
    ) -> None: ...


async def route_events(
    events: Sequence[Envelope[Any]],
    *,
    registry: Registry,
    publish_all: Callable[[list[NotificationRequested]], Awaitable[None]],
    now: datetime,
) -> list[Decision]:
    """One request per consenting recipient and channel; every decision kept for support.

    Safe to repeat: a redelivered event gives the same requests (their event ids and dedupe
    keys derive from the event, recipient and channel), which the notifier folds."""
    students = sorted({(e.payload.school_id, e.payload.student_id) for e in events})
    files = await registry.files_for_students(students)
    requests: list[NotificationRequested] = []
    decided = []
    for event in events:
        payload = event.payload
        made, decisions = notification_requests(
            event, files.get((payload.school_id, payload.student_id), []), now
        )
        requests.extend(made)
        decided.append((event, decisions))
    await registry.record_decisions(decided)
    await publish_all(requests)
    return [decision for _, decisions in decided for decision in decisions]
