"""The grades relay's own rules, with an in-memory outbox and publisher: what it publishes
once, what it publishes again, and in which order."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from services.shared.outbox import OutboxRelay, PendingRecord


def record(name: str, lane: str = "normal") -> PendingRecord:
    event: Any = SimpleNamespace(event_id=uuid.uuid4())
    return PendingRecord("records", f"school-1/mark/{name}", 1, [event], lane)  # type: ignore[arg-type]


class Outbox:
    """The store's side: records with pending events until they are marked published."""

    def __init__(self, *records: PendingRecord) -> None:
        self.pending = list(records)

    async def pending_events(self, limit: int) -> list[PendingRecord]:
        return self.pending[:limit]

    async def mark_published(self, records: list[PendingRecord]) -> None:
        done = {r.document_id for r in records}
        self.pending = [r for r in self.pending if r.document_id not in done]

    async def outbox_backlog(self) -> int:
        return len(self.pending)


class Broker:
    """Publishes, or refuses the events named in `refuse`; remembers what it published."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.refuse: set[str] = set()

    async def publish(self, events: list[Any]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for event in events:
            if str(event.event_id) in self.refuse:
                outcomes.append(TimeoutError("broker away"))
            else:
                self.published.append(str(event.event_id))
                outcomes.append(None)
        return outcomes


def relay_of(outbox: Outbox, broker: Broker) -> OutboxRelay:
    async def nothing() -> None:
        return None

    async def no_tails() -> set[str]:
        return set()

    return OutboxRelay(
        outbox,
        broker.publish,
        connect=nothing,
        recently_published=no_tails,
        poll_seconds=0.1,
    )


def ids(*records: PendingRecord) -> list[str]:
    return [str(event.event_id) for r in records for event in r.events]


async def test_a_record_the_sweep_found_first_is_not_published_again_when_handed_over() -> None:
    written = record("m-1")
    outbox, broker = Outbox(written), Broker()
    relay = relay_of(outbox, broker)

    await relay.publish_pending()  # idle: it looks in the store and finds the record
    relay.enqueue([written])  # the hand-over of the same write arrives late
    await relay.publish_pending()

    assert broker.published == ids(written)


async def test_after_a_partly_failed_batch_only_the_rest_is_sent_again() -> None:
    sent, refused = record("m-1"), record("m-2")
    outbox, broker = Outbox(), Broker()
    relay = relay_of(outbox, broker)
    relay.enqueue([sent, refused])
    broker.refuse = set(ids(refused))

    with pytest.raises(TimeoutError):
        await relay.publish_pending()
    broker.refuse.clear()
    await relay.publish_pending()

    assert broker.published == ids(sent, refused)


async def test_final_results_go_before_a_backlog_of_ordinary_marks() -> None:
    backlog = [record(f"m-{n}") for n in range(600)]
    final = record("f-1", lane="urgent")
    outbox, broker = Outbox(), Broker()
    relay = relay_of(outbox, broker)
    relay.enqueue(backlog)
    relay.enqueue([final])

    await relay.publish_pending()

    assert broker.published[0] == ids(final)[0]


async def test_a_terms_timetable_waits_behind_lesson_changes_and_marks() -> None:
    """Issue 13: a bulk load never delays what families must learn first."""
    timetable = [record(f"tt-{n}", lane="bulk") for n in range(600)]
    mark, change = record("m-1"), record("ch-1", lane="urgent")
    outbox, broker = Outbox(), Broker()
    relay = relay_of(outbox, broker)
    relay.enqueue(timetable)
    relay.enqueue([mark, change])

    await relay.publish_pending()

    assert broker.published[:2] == ids(change, mark)


class Lease:
    def __init__(self, held: bool) -> None:
        self.is_held = held

    async def held(self) -> bool:
        return self.is_held

    async def release(self) -> None:
        self.is_held = False


async def test_a_relay_without_the_lease_publishes_nothing_and_leaves_it_to_the_holder() -> None:
    written = record("m-1")
    outbox, broker, lease = Outbox(written), Broker(), Lease(held=False)
    tails_read: list[int] = []

    async def tails() -> set[str]:
        tails_read.append(1)
        return set()

    async def nothing() -> None:
        return None

    relay = OutboxRelay(
        outbox,
        broker.publish,
        connect=nothing,
        recently_published=tails,
        poll_seconds=0.1,
        lease=lease,
    )
    relay.enqueue([written])
    await relay.publish_pending()
    assert broker.published == []
    assert outbox.pending == [written]  # still in the store, for the holder's sweep

    lease.is_held = True  # the holder stopped: this relay takes over
    await relay.publish_pending()
    assert tails_read, "a new holder first looks for what the previous one left in doubt"
    assert broker.published == ids(written)
