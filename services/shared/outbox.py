"""The outbox: a document and the events its change produced are written by one
single-document operation, and a relay publishes the events, and only then forgets them.

No multi-document transaction is needed (FerretDB has none): there is no moment when a state
exists without its events. While a document has pending events it carries `outbox` (its lane:
"urgent" goes first, as final results must under clause 9's 24 hours) and an `outbox_seq` (the
relay publishes each lane in that order); both go when the events are published. The outbox is
thus the set of documents with that field, read through a sparse index (MongoDB) or its GIN twin
(FerretDB): the pending ones only, never the history.

`MongoOutbox` is the store's half (every service that writes and then publishes uses it), and
`OutboxRelay` the publishing loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bson import ObjectId
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from schemas import Envelope
from schemas.topics import EVENTS_BY_TYPE
from services.shared.lease import Lease
from services.shared.mongo import Document, bulk_write
from services.shared.tasks import keep_running

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# However busy the relay is with its own process's writes, it looks in the store this often
# for records written elsewhere (another replica, or before a crash).
SWEEP_EVERY_SECONDS = 30.0
PUBLISHED_MEMORY = 50_000

# "bulk" is for what comes in thousands and is never urgent (a term's timetable): it goes out
# after everything else, so loading it never delays a result or a lesson change.
Lane = Literal["urgent", "normal", "bulk"]
LANES: tuple[Lane, ...] = ("urgent", "normal", "bulk")


@dataclass(frozen=True)
class PendingRecord:
    """A document with events to publish: as written, or as the relay read it back."""

    collection: str
    document_id: str
    version: int
    events: list[Envelope[Any]]
    lane: Lane = "normal"


def event_entry(event: Envelope[Any]) -> Document:
    """How a pending event is kept in its document."""
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "event": event.model_dump(mode="json"),
    }


def _event(entry: Document) -> Envelope[Any]:
    return EVENTS_BY_TYPE[entry["type"]].model_validate(entry["event"])


def pending_fields(events: Sequence[Envelope[Any]], lane: Lane = "normal") -> Document:
    """The fields a new document carries while its events wait."""
    return {
        "pending_events": [event_entry(event) for event in events],
        "outbox": lane,
        # An ObjectId grows within a process, unlike a millisecond clock: one student's
        # events leave in the order they came in.
        "outbox_seq": ObjectId(),
    }


def with_pending(
    update: Document, events: Sequence[Envelope[Any]], lane: Lane = "normal"
) -> Document:
    """`update` (a MongoDB update document) that also queues `events` in the same write."""
    return {
        **update,
        "$set": {**update.get("$set", {}), "outbox": lane},
        "$push": {"pending_events": {"$each": [event_entry(event) for event in events]}},
        # Keeps its place in the relay's queue if events are already waiting.
        "$min": {"outbox_seq": ObjectId()},
    }


class MongoOutbox:
    """The outbox over some collections whose documents carry a `version` and, while events
    wait, `pending_events`, `outbox` and `outbox_seq`.

    `updating` is the store's lock for updates of its documents: FerretDB updates a document by
    reading, changing and writing it back without a lock, so two updates of one document at once
    can lose one. MongoDB updates a document atomically.
    """

    def __init__(
        self, collections: Sequence[AsyncCollection[Document]], *, updating: asyncio.Lock
    ) -> None:
        self._collections = {collection.name: collection for collection in collections}
        self._updating = updating

    async def ensure_indexes(self) -> None:
        for collection in self._collections.values():
            await collection.create_index([("outbox", ASCENDING)], sparse=True)

    async def pending_events(self, limit: int) -> list[PendingRecord]:
        """Documents with unpublished events: the urgent lane first, each lane oldest first."""
        found: list[tuple[str, Document]] = []
        for lane in LANES:
            in_lane = []
            for name, collection in self._collections.items():
                cursor = collection.find({"outbox": lane}).sort("outbox_seq", ASCENDING)
                in_lane.extend([(name, doc) async for doc in cursor.limit(limit)])
            # Merged in queue order: a student's StudentChanged leaves before their marks.
            in_lane.sort(key=lambda found: found[1]["outbox_seq"])
            found.extend(in_lane)
        return [
            PendingRecord(
                name,
                doc["_id"],
                doc["version"],
                [_event(e) for e in doc["pending_events"]],
                doc["outbox"],
            )
            for name, doc in found[:limit]
        ]

    async def mark_published(self, records: list[PendingRecord]) -> None:
        """Take the published events out of their documents' queues: one bulk write by `_id`
        and version. A document changed since it was read (a correction came in meanwhile)
        keeps what arrived: those are done one by one."""
        for name, collection in self._collections.items():
            mine = [r for r in records if r.collection == name]
            done = [
                UpdateOne(
                    {"_id": record.document_id, "version": record.version},
                    {"$set": {"pending_events": []}, "$unset": {"outbox": "", "outbox_seq": ""}},
                )
                for record in mine
            ]
            async with self._updating:
                if await bulk_write(collection, done) < len(mine):
                    for record in mine:
                        await self._forget_published(collection, record)

    async def _forget_published(
        self, collection: AsyncCollection[Document], record: PendingRecord
    ) -> None:
        published = {str(event.event_id) for event in record.events}
        while True:
            doc = await collection.find_one({"_id": record.document_id})
            if doc is None or not published & {e["event_id"] for e in doc["pending_events"]}:
                return
            remaining = [e for e in doc["pending_events"] if e["event_id"] not in published]
            update: Document = {"$set": {"pending_events": remaining}}
            if not remaining:
                update["$unset"] = {"outbox": "", "outbox_seq": ""}
            result = await collection.update_one(
                {"_id": record.document_id, "version": doc["version"]}, update
            )
            if result.matched_count:
                return

    async def outbox_backlog(self) -> int:
        return sum(
            [
                await collection.count_documents({"outbox": lane})
                for collection in self._collections.values()
                for lane in LANES
            ]
        )


class Outbox(Protocol):
    async def pending_events(self, limit: int) -> list[PendingRecord]: ...
    async def mark_published(self, records: list[PendingRecord]) -> None: ...
    async def outbox_backlog(self) -> int: ...


class OutboxRelay:
    """Runs as one background task per process; several processes may run one each.

    The store hands over what this process wrote (`enqueue`), so the relay publishes it without
    reading it back; it looks in the store itself at start, after a failure, when idle, and at
    least every SWEEP_EVERY_SECONDS, for what it was not handed. Final results and exam
    results go first (clause 9's 24 hours), each lane oldest first.

    A crash between publishing and `mark_published` (or two relays publishing the same record)
    publishes an event twice: at-least-once, which consumers absorb by deduplicating on the
    event id. Nothing is lost: a record forgets only the events it saw published.

    With a `lease`, only its holder publishes: two relays publishing at once could send a
    record's older event after its newer one (a mark resurrected after its retraction). The
    others drop what they are handed (it is in the store, where the holder's sweep finds it)
    and wait; the one that takes the lease over first reads the partition tails for what its
    predecessor left in doubt, as after a crash. Without a lease (unit tests, or one relay
    per service by deployment) every relay publishes.
    """

    def __init__(
        self,
        outbox: Outbox,
        publish: Callable[[list[Envelope[Any]]], Awaitable[list[BaseException | None]]],
        *,
        connect: Callable[[], Awaitable[None]],
        recently_published: Callable[[], Awaitable[set[str]]],
        poll_seconds: float,
        on_published: Callable[[Envelope[Any]], None] = lambda event: None,
        on_backlog: Callable[[int], None] = lambda size: None,
        lease: Lease | None = None,
    ) -> None:
        self._outbox = outbox
        self._lease = lease
        self._publish = publish
        self._connect = connect
        self._recently_published = recently_published
        self._in_doubt: set[str] | None = None
        self._poll_seconds = poll_seconds
        self._on_published = on_published
        self._on_backlog = on_backlog
        self._wake = asyncio.Event()
        self._lanes: dict[str, deque[PendingRecord]] = {lane: deque() for lane in LANES}
        self._queued: set[tuple[str, int]] = set()  # (document, version) in a lane or in flight
        # What this relay published lately: a sweep may find a record between its insert and
        # its hand-over, and publish it before the hand-over arrives.
        self._published: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._swept_at = float("-inf")

    def wake(self) -> None:
        self._wake.set()

    def enqueue(self, records: list[PendingRecord]) -> None:
        """What this process just wrote: published without being read back."""
        for record in records:
            self._add(record)
        self.wake()

    def _add(self, record: PendingRecord, *, front: bool = False) -> None:
        key = (record.document_id, record.version)
        if key in self._queued or key in self._published:
            return
        self._queued.add(key)
        lane = self._lanes[record.lane]
        lane.appendleft(record) if front else lane.append(record)

    def _backlog(self) -> int:
        return sum(map(len, self._lanes.values()))

    async def _sweep(self) -> None:
        """Records with pending events that nobody handed over: written by another process,
        or left by one that crashed."""
        documents = {document for document, _ in self._queued}
        for record in await self._outbox.pending_events(BATCH_SIZE):
            if record.document_id not in documents:
                self._add(record)
        self._swept_at = time.monotonic()

    def _take(self) -> list[PendingRecord]:
        batch: list[PendingRecord] = []
        for lane in self._lanes.values():
            while lane and len(batch) < BATCH_SIZE:
                batch.append(lane.popleft())
        return batch

    def _stand_by(self) -> None:
        """Not the lease holder: forget what was handed over (the holder sweeps it from the
        store), and start afresh, as after a crash, when the lease comes this way."""
        for lane in self._lanes.values():
            lane.clear()
        self._queued.clear()
        self._in_doubt = None
        self._swept_at = float("-inf")

    async def publish_pending(self) -> int:
        """Publish one batch, urgent first; return how many records it held (none without
        the lease)."""
        await self._connect()  # first: it may take longer than the lease leaves to work
        if self._lease is not None and not await self._lease.held():
            self._stand_by()
            return 0
        if self._in_doubt is None:
            # First pass since start: whatever a crashed predecessor published but did not
            # record sits at the tail of the partitions; record it instead of sending it again.
            self._in_doubt = await self._recently_published()
            log.info("outbox relay: %d recent events at the partition tails", len(self._in_doubt))
        idle = self._backlog() == 0
        if idle or time.monotonic() - self._swept_at >= SWEEP_EVERY_SECONDS:
            await self._sweep()
        batch = self._take()
        done: list[PendingRecord] = []
        try:
            await self._publish_batch(batch, done)
        finally:
            for record in batch:
                self._queued.discard((record.document_id, record.version))
            if len(done) < len(batch):
                published = {id(record) for record in done}
                for record in reversed(batch):  # the rest first again, in their order
                    if id(record) not in published:
                        self._add(record, front=True)
                # Before resending: look at the partition tails for what landed after all, and
                # in the store for what another process may have published meanwhile.
                self._in_doubt = None
                self._swept_at = float("-inf")
        return len(batch)

    async def _publish_batch(self, batch: list[PendingRecord], done: list[PendingRecord]) -> None:
        """Publish `batch`; each record whose events all went out is recorded as published
        and added to `done`, even when the call fails for the others."""
        assert self._in_doubt is not None
        to_send = [
            e for record in batch for e in record.events if str(e.event_id) not in self._in_doubt
        ]
        try:
            outcomes = await self._publish(to_send)
        except BaseException:
            self._in_doubt = None  # some of the batch may have landed: look before resending
            raise
        failures = dict(zip((e.event_id for e in to_send), outcomes, strict=True))
        failed = [error for error in failures.values() if error is not None]
        # A record is done only when all its events are out; the rest wait for a retry.
        out = [r for r in batch if all(failures.get(e.event_id) is None for e in r.events)]
        await self._outbox.mark_published(out)
        done.extend(out)
        for record in out:
            self._published[(record.document_id, record.version)] = None
        while len(self._published) > PUBLISHED_MEMORY:
            self._published.popitem(last=False)
        for record in out:
            for event in record.events:
                self._on_published(event)
        if failed:
            # A send that timed out may still have landed (the broker came back while the
            # producer was retrying): like after a crash, look at the tails before resending.
            self._in_doubt = None
            raise failed[0]
        self._in_doubt.clear()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self._lease is not None:
                # Stopped: another relay may take over without waiting for the slots held.
                with contextlib.suppress(Exception):
                    await self._lease.release()

    async def _run(self) -> None:
        await keep_running(
            self._step,
            name="outbox relay",
            retry_seconds=self._poll_seconds,
            on_error=self._after_failure,
        )

    async def _step(self) -> None:
        # Cleared before the work, so a wake-up that arrives during it is not lost.
        self._wake.clear()
        await self.publish_pending()
        self._on_backlog(self._backlog())
        if self._backlog():
            return  # more is waiting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)

    async def _after_failure(self, error: BaseException) -> None:
        """Kafka or MongoDB away: the events stay in the store, and the backlog grows; that is
        when ops must see it."""
        self._on_backlog(await self._outbox.outbox_backlog())
