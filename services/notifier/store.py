"""The notifier's records on MongoDB: deliveries, deadline misses, the inbox, its view of
consent, and the schools' time zones.

Every write of the hot path is a batch: a handler's requests are inserted at once, a pass's
outcomes recorded in one bulk write, its inbox messages in one insert; reads go through an
equality an index serves (a delivery's `_id`, a partition's queue, a school).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from schemas import Envelope, NotificationRequested
from schemas.notify import DeadlineMissed
from services.notifier.domain import UNFINISHED, Status
from services.notifier.schedule import Pending
from services.shared.mongo import Document, bulk_write, insert_new
from services.shared.outbox import MongoOutbox, PendingRecord, pending_fields, with_pending
from services.shared.pages import find_page
from services.shared.retention import RetentionRule
from services.shared.timezones import school_zone


@dataclass(frozen=True)
class Recorded:
    """A delivery's new state after an attempt (or a decision not to make one)."""

    key: str
    status: Status
    attempts: int
    at: datetime
    due: datetime | None = None  # when it is due again, while it stays open
    reason: str | None = None
    message_id: str | None = None
    # Failed, but its partition's next owner must still judge its deadline: stays in the queue.
    watched: bool = False
    # The status events this change produced: written into the delivery with it (the outbox).
    events: tuple[Envelope[Any], ...] = ()


OnWritten = Callable[[list[PendingRecord]], None]


def notifier_outbox(db: AsyncDatabase[Document], *, updating: asyncio.Lock) -> MongoOutbox:
    """The status events waiting in deliveries and deadline misses, for the relay."""
    return MongoOutbox([db["deliveries"], db["deadline_misses"]], updating=updating)


OPEN_STATES = frozenset({"retry_wait", "failed", "sending"})


class _Versions:
    """A version for each write that queues events: the relay takes them out of the delivery
    only if it is still that version. Grows within the process and across restarts."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, time.time_ns())
        return self._last


class MongoDeliveries:
    """One document per dedupe key (the `_id`): inserting it is what makes a request known, so
    a redelivered request finds it. While a delivery is open it carries `queue`, the Kafka
    partition its request came from; the field goes when it ends. The queue is thus the set of
    documents with that field, read by partition through a sparse index (MongoDB) or its GIN
    twin (FerretDB): only open deliveries, however many have ended before them."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        updating: asyncio.Lock | None = None,
        on_written: OnWritten | None = None,
    ) -> None:
        """`updating`: the lock the outbox takes too (see `MongoOutbox`): on FerretDB, the
        relay taking published events out and an outcome written at the same time would lose
        one of the two. `on_written`: told the events each write queued, for the relay to
        publish without reading them back."""
        self._deliveries = db["deliveries"]
        self._updating = updating or asyncio.Lock()
        self._on_written = on_written or (lambda records: None)
        self._versions = _Versions()

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("queue", 1)], sparse=True)
        await self._deliveries.create_index([("school_id", 1), ("student_id", 1)])

    async def insert_new(self, pending: list[Pending], now: datetime) -> list[bool]:
        """Record new requests as open deliveries; for each, False if its key was known."""
        documents = [delivery_document(p, now) for p in pending]
        known = await insert_new(self._deliveries, documents)
        return [index not in known for index in range(len(documents))]

    async def open_in(self, partition: int) -> list[Pending]:
        """The open deliveries of one partition, for the process that takes it over."""
        return [
            Pending(
                request=NotificationRequested.model_validate(doc["request"]),
                partition=partition,
                attempts=doc["attempts"],
                due=doc["next_attempt_at"],
                # `sending`: handed to the SMTP relay when a process stopped (`verdict`).
                status=doc["status"] if doc["status"] in OPEN_STATES else "queued",
            )
            async for doc in self._deliveries.find({"queue": partition})
        ]

    async def record(self, outcomes: list[Recorded]) -> None:
        """Each delivery's new state and its status events, in one bulk write (by `_id`)."""
        operations, queued = [], []
        for outcome in outcomes:
            fields: Document = {"status": outcome.status, "attempts": outcome.attempts}
            update: Document = {"$set": fields}
            if outcome.reason is not None:
                fields["last_error"] = outcome.reason
            if outcome.status in UNFINISHED:
                fields["next_attempt_at"] = outcome.due
            else:
                fields["finished_at"] = outcome.at
                if outcome.message_id is not None:
                    fields["message_id"] = outcome.message_id
                if not outcome.watched:
                    update["$unset"] = {"queue": ""}
            if outcome.events:
                fields["version"] = version = self._versions.next()
                update = with_pending(update, outcome.events)
                queued.append(
                    PendingRecord(self._deliveries.name, outcome.key, version, list(outcome.events))
                )
            operations.append(UpdateOne({"_id": outcome.key}, update))
        async with self._updating:
            await bulk_write(self._deliveries, operations)
        self._on_written(queued)

    async def mark_sending(self, keys: list[str], at: datetime) -> None:
        """These e-mails are about to be taken by the relay (see `SendingMarks`)."""
        fields = {"status": "sending", "sending_at": at}
        operations = [UpdateOne({"_id": key}, {"$set": fields}) for key in keys]
        async with self._updating:
            await bulk_write(self._deliveries, operations)

    async def status_of(self, keys: list[str]) -> dict[str, Status]:
        """Each known key's status, one by one: only for the rare delivery whose sibling
        ended before this process took over its partition."""
        found = {}
        for key in keys:
            doc = await self._deliveries.find_one({"_id": key}, {"status": 1})
            if doc is not None:
                found[key] = doc["status"]
        return found

    async def find(self, dedupe_key: str) -> Document | None:
        return await self._deliveries.find_one({"_id": dedupe_key})

    async def search(
        self, school_id: str, filters: dict[str, Any], *, limit: int, after: str | None = None
    ) -> tuple[list[Document], str | None]:
        """A page of deliveries, newest first; `_id` is the dedupe key staff look up by."""
        query = {"school_id": school_id, **{k: v for k, v in filters.items() if v is not None}}
        return await find_page(
            self._deliveries,
            query,
            order="queued_at",
            direction=-1,
            limit=limit,
            after=after,
            projection={"request": 0, "queue": 0, **OUTBOX_FIELDS},
            keep_id=True,
        )


# Plumbing of the outbox, not for staff to read.
OUTBOX_FIELDS = dict.fromkeys(("pending_events", "outbox", "outbox_seq", "version"), 0)


def delivery_document(pending: Pending, now: datetime) -> Document:
    """How an open delivery is stored when its request arrives."""
    request = pending.request
    payload = request.payload
    return {
        "_id": payload.dedupe_key,
        "queue": pending.partition,
        "status": pending.status,
        "attempts": pending.attempts,
        "next_attempt_at": pending.due,
        "queued_at": now,
        "school_id": payload.content.school_id,
        "student_id": payload.student_id,
        "recipient_id": payload.recipient_id,
        "channel": payload.channel,
        "kind": payload.content.kind,
        "priority": payload.priority,
        "deadline": payload.deadline,
        # Clause 9's clock: a final result is late from when it was obtained.
        "obtained_at": getattr(payload.content, "obtained_at", None),
        "source_event_id": str(payload.source_event_id),
        # Kept whole so that whoever owns the partition next needs nothing else.
        "request": request.model_dump(mode="json"),
    }


class MongoDeadlineMisses:
    """Recipients staff must inform by other means: one record per event and recipient."""

    def __init__(self, db: AsyncDatabase[Document], *, on_written: OnWritten | None = None) -> None:
        self._misses = db["deadline_misses"]
        self._on_written = on_written or (lambda records: None)

    async def ensure_indexes(self) -> None:
        await self._misses.create_index([("school_id", 1)])

    async def record(self, misses: list[DeadlineMissed]) -> list[bool]:
        """Each miss with its event (staff's tools hear of it first: the urgent lane); for
        each, False if it was recorded already."""
        documents = [
            {
                "_id": f"{m.payload.source_event_id}:{m.payload.recipient_id}",
                **m.payload.model_dump(mode="json"),
                "deadline": m.payload.deadline,
                "version": 1,
                **pending_fields([m], "urgent"),
            }
            for m in misses
        ]
        known = await insert_new(self._misses, documents)
        self._on_written(
            [
                PendingRecord(self._misses.name, doc["_id"], 1, [miss], "urgent")
                for index, (doc, miss) in enumerate(zip(documents, misses, strict=True))
                if index not in known
            ]
        )
        return [index not in known for index in range(len(misses))]

    async def of_school(
        self, school_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[Document], str | None]:
        """A page of the school's misses, earliest deadline first."""
        return await find_page(
            self._misses,
            {"school_id": school_id},
            order="deadline",
            limit=limit,
            after=after,
            projection=OUTBOX_FIELDS,
        )


class MongoInbox:
    """The personal account's inbox: one stored message per dedupe key."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._messages = db["inbox"]

    async def ensure_indexes(self) -> None:
        await self._messages.create_index([("school_id", 1), ("recipient_id", 1)])

    async def put_many(self, messages: list[Document]) -> None:
        # Stored by an earlier attempt already: the inbox shows it once.
        await insert_new(self._messages, messages)

    async def messages(
        self, school_id: str, recipient_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[Document], str | None]:
        """A page of the inbox, newest first."""
        return await find_page(
            self._messages,
            {"school_id": school_id, "recipient_id": recipient_id},
            order="created_at",
            direction=-1,
            limit=limit,
            after=after,
        )


class MongoConsentView:
    """What the notifier knows of consent, from `consent.changes.v1`: checked before each send.

    One document per fact, keyed by school and person (journals reuse ids across schools):
    a revocation per recipient and student, a paper-only declaration per recipient, the latest
    contact change per recipient and channel. A pass reads its schools' documents at once."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._view = db["consent_view"]

    async def ensure_indexes(self) -> None:
        await self._view.create_index([("school_id", 1), ("recipient_id", 1)])

    async def revoked(
        self,
        school_id: str,
        recipient_id: str,
        student_id: str,
        at: datetime,
        *,
        reason: str = "consent revoked",
    ) -> None:
        """No more sends for this student to this recipient (a revocation, or a refusal
        registered after a consent), until a later consent lifts it."""
        await self._view.replace_one(
            {"_id": f"{school_id}/revoked/{recipient_id}/{student_id}"},
            {
                "school_id": school_id,
                "recipient_id": recipient_id,
                "kind": "revoked",
                "student_id": student_id,
                "at": at,
                "reason": reason,
            },
            upsert=True,
        )

    async def granted(
        self, school_id: str, recipient_id: str, student_id: str, at: datetime
    ) -> None:
        # A consent given after a revocation lifts it; an older one (redelivered) does not.
        key = f"{school_id}/revoked/{recipient_id}/{student_id}"
        existing = await self._view.find_one({"_id": key})
        if existing is not None and existing["at"] <= at:
            await self._view.delete_one({"_id": key})

    async def set_paper_only(self, school_id: str, recipient_id: str, paper_only: bool) -> None:
        key = f"{school_id}/paper/{recipient_id}"
        if paper_only:
            await self._view.replace_one(
                {"_id": key},
                {"school_id": school_id, "recipient_id": recipient_id, "kind": "paper_only"},
                upsert=True,
            )
        else:
            await self._view.delete_one({"_id": key})

    async def contact_changed(
        self, school_id: str, recipient_id: str, channel: str, at: datetime
    ) -> None:
        """Remember the latest change: a request made before it carries an address that may
        no longer be the one the parent handed over."""
        key = f"{school_id}/contact/{recipient_id}/{channel}"
        existing = await self._view.find_one({"_id": key})
        if existing is None or existing["at"] < at:
            await self._view.replace_one(
                {"_id": key},
                {
                    "school_id": school_id,
                    "recipient_id": recipient_id,
                    "kind": "contact",
                    "channel": channel,
                    "at": at,
                },
                upsert=True,
            )

    async def refusals(self, requests: list[NotificationRequested]) -> dict[str, str]:
        """Why consent no longer allows each request, by dedupe key (absent: it does). One
        query per school among the requests."""
        by_school: dict[str, list[NotificationRequested]] = defaultdict(list)
        for request in requests:
            by_school[request.payload.content.school_id].append(request)
        refusals = {}
        for school_id, mine in by_school.items():
            recipients = sorted({r.payload.recipient_id for r in mine})
            facts = {
                doc["_id"]: doc
                async for doc in self._view.find(
                    {"school_id": school_id, "recipient_id": {"$in": recipients}}
                )
            }
            for request in mine:
                if reason := _refusal(school_id, request, facts):
                    refusals[request.payload.dedupe_key] = reason
        return refusals


def _refusal(
    school_id: str, request: NotificationRequested, facts: dict[str, Document]
) -> str | None:
    payload = request.payload
    person = f"{school_id}/%s/{payload.recipient_id}"
    # A class's notice names every child of the family it concerns: a consent withdrawn for
    # any one of them stops it (consent makes a new one for the others with the next news).
    for student_id in payload.student_ids or (payload.student_id,):
        if (withdrawn := facts.get(f"{person % 'revoked'}/{student_id}")) is not None:
            return str(withdrawn.get("reason", "consent revoked"))
    if person % "paper" in facts:
        return "declared paper only"
    change = facts.get(f"{person % 'contact'}/{payload.channel}")
    # The address's own date where the request has one: consent may have read the old address
    # just before a change and stamped the request just after it.
    handed_over = payload.contact_as_of or request.recorded_at
    if change is not None and _ms(change["at"]) > _ms(handed_over):
        return f"{payload.channel} contact changed after the request was made"
    return None


def _ms(moment: datetime) -> datetime:
    """To MongoDB's precision: a date read back from it has lost its microseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class MongoSchoolZones:
    """Each school's time zone, from the journal's `SchoolChanged`; a default until one comes.
    Read from a copy of all of them, refreshed once a minute (zones rarely change)."""

    REFRESH_SECONDS = 60.0

    def __init__(self, db: AsyncDatabase[Document], default: ZoneInfo) -> None:
        self._zones = db["school_zones"]
        self._default = default
        self._known: dict[str, str] = {}
        self._loaded_at = float("-inf")

    async def save(self, school_id: str, timezone: str) -> None:
        await self._zones.replace_one({"_id": school_id}, {"timezone": timezone}, upsert=True)
        self._known[school_id] = timezone

    async def zone(self, school_id: str) -> ZoneInfo:
        if time.monotonic() - self._loaded_at > self.REFRESH_SECONDS:
            self._known = {doc["_id"]: doc["timezone"] async for doc in self._zones.find({})}
            self._loaded_at = time.monotonic()
        return school_zone(self._known.get(school_id), self._default)


@dataclass(frozen=True)
class RetentionPeriods:
    """How long the notifier keeps personal data (152-FZ art. 5 part 7): a delivery record
    (who was told what, and when: proof for the school year it concerns and the next), an
    inbox message, a deadline miss."""

    deliveries: timedelta = timedelta(days=365)
    inbox: timedelta = timedelta(days=365)
    deadline_misses: timedelta = timedelta(days=365)


def retention_rules(db: AsyncDatabase[Document], keep: RetentionPeriods) -> list[RetentionRule]:
    """Only what has ended and whose status events are published: an open delivery is work,
    and an event in the outbox must leave before its document does."""
    published = {"outbox": {"$exists": False}}
    return [
        RetentionRule(
            db["deliveries"],
            "finished_at",
            keep.deliveries,
            only={"queue": {"$exists": False}, **published},
        ),
        RetentionRule(db["inbox"], "created_at", keep.inbox),
        RetentionRule(db["deadline_misses"], "deadline", keep.deadline_misses, only=published),
    ]
