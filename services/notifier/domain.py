"""Delivering one notification request: at most once per dedupe key, retried while it may be.

A delivery moves queued → sending → sent, or → waiting to retry (temporary failure, with
exponential backoff and jitter) → … → sent | failed; or → cancelled when the consent no longer
allows it, checked again right before every attempt. `sending` is stored only for an e-mail
the SMTP relay is about to take (see `sender.SmtpSender`): one a crash leaves there was handed
over, and is counted as sent rather than sent again.

A final result (deadline-bound) falls back across the recipient's channels by the
`FallbackPolicy`: by default e-mail first, and SMS when e-mail has failed or is late.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from schemas import NotificationRequested
from schemas.notify import Channel, QuietHours

PRODUCER = "notifier"

Status = Literal["queued", "sending", "sent", "retry_wait", "failed", "cancelled", "expired"]


class TemporaryFailureError(Exception):
    """Worth another try later: SMTP 4xx, HTTP 5xx or 429, a timeout, a refused connection."""


class NotHandedOverError(TemporaryFailureError):
    """Stopped right before the provider would have had it, for a reason of ours (consent or
    the database away): no attempt, so a long wait for them never uses up a message's retries
    (a final result's deadline still holds)."""


class PermanentFailureError(Exception):
    """Will not get better by waiting: SMTP 5xx, a rejected number, a malformed request."""


class WithdrawnError(Exception):
    """Consent no longer allows this message (asked right before it was handed over): it is
    cancelled, with this reason."""


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


@dataclass(frozen=True)
class Verdict:
    """What to do with a delivery that has come due, decided right before sending."""

    action: Literal["send", "superseded", "postponed", "cancelled", "fate_unknown"]
    reason: str | None = None
    until: datetime | None = None  # postponed until then


def verdict(
    request: NotificationRequested,
    *,
    now: datetime,
    siblings: Mapping[str, Status],
    zone: ZoneInfo | None,
    refusal: str | None,
    fallback: FallbackPolicy,
    handed_over: bool = False,
) -> Verdict:
    """`siblings`: the state of the recipient's other channels for the same event; `zone`:
    the school's time zone (needed only for an SMS with quiet hours); `refusal`: why the
    consent no longer allows it, if it does not; `handed_over`: a process that stopped was
    handing it to the provider (it was `sending`)."""
    if handed_over:
        # Sending it again may duplicate it; counting it sent may lose it (the process may
        # have died before the final dot, or with its mark written and the store's answer
        # lost: `make chaos` found both). Neither is known: it fails with that reason, and a
        # final result's next channel goes at once.
        return Verdict("fate_unknown", FATE_UNKNOWN)
    if reached := [c for c in fallback.earlier(request) if siblings.get(c) == "sent"]:
        return Verdict("superseded", f"not needed: reached by {reached[0]}")
    if zone is not None and (until := hold_for_quiet_hours(request, now, zone)) is not None:
        return Verdict("postponed", until=until)
    if refusal is not None:
        return Verdict("cancelled", refusal)
    return Verdict("send")


HANDED_OVER = "handed to the provider; its reply was lost"
FATE_UNKNOWN = (
    "being handed to the provider when the notifier stopped: it may or may not have arrived"
)
REASON_LENGTH = 300
# What in a provider's reply is a person's address: an e-mail address (`<ivan@example.org>`,
# as relays quote it at RCPT TO) or a phone number (10 to 15 digits, maybe spaced or dashed).
ADDRESSES = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+|\+?\d(?:[\s()-]?\d){9,14}")


def readable_reason(text: str) -> str:
    """A failure's reason as it may be stored and published: no address of the recipient
    (152-FZ: delivery records do not copy it, and relays like to quote it), printable text only
    (a provider's reply may carry bytes that are no UTF-8, which no database or event can
    hold), short, and never empty."""
    printable = "".join(
        c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else " " for c in text
    )
    cleaned = " ".join(ADDRESSES.sub("[address]", printable).split())
    if len(cleaned) > REASON_LENGTH:
        cleaned = cleaned[: REASON_LENGTH - 1] + "…"
    return cleaned or "no reason given"


@dataclass(frozen=True)
class AfterFailure:
    status: Literal["retry_wait", "failed"]
    reason: str
    retry_at: datetime | None = None


def after_failure(
    error: TemporaryFailureError | PermanentFailureError,
    attempts: int,
    *,
    policy: RetryPolicy,
    now: datetime,
    random: Callable[[], float],
) -> AfterFailure:
    """A permanent failure ends the delivery; a temporary one is retried with backoff until
    the last attempt."""
    reason = readable_reason(str(error))
    if isinstance(error, PermanentFailureError):
        return AfterFailure("failed", reason)
    if isinstance(error, NotHandedOverError):
        return AfterFailure("retry_wait", reason, now + policy.delay(1, random))
    if attempts >= policy.max_attempts:
        return AfterFailure("failed", f"gave up after {attempts}: {reason}")
    return AfterFailure("retry_wait", reason, now + policy.delay(attempts, random))
