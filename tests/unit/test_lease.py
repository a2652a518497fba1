"""The time-slot lease: one holder at a time, kept while it runs, taken over when it stops.
An in-memory collection with MongoDB's one guarantee the lease relies on: an insert under an
existing `_id` fails."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from services.shared.lease import MongoLease


class Collection:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    async def insert_one(self, document: dict[str, Any]) -> None:
        if document["_id"] in self.documents:
            raise DuplicateKeyError("E11000")
        self.documents[document["_id"]] = document

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        return self.documents.get(query["_id"])

    async def delete_many(self, query: dict[str, Any]) -> None:
        for key, document in list(self.documents.items()):
            if document["name"] != query["name"]:
                continue
            if "slot" in query and document["slot"] < query["slot"]["$lt"]:
                del self.documents[key]
            if "holder" in query and document["holder"] == query["holder"]:
                del self.documents[key]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def leases(clock: Clock, *owners: str) -> list[MongoLease]:
    collection: Any = Collection()
    return [
        MongoLease(collection, "relay", ttl_seconds=30, owner=owner, clock=clock)
        for owner in owners
    ]


async def test_one_holder_at_a_time_and_it_keeps_the_lease_while_it_runs() -> None:
    clock = Clock(3000.0)  # the start of slot 100
    first, second = leases(clock, "a", "b")
    assert await first.held()
    assert not await second.held()
    for _ in range(20):  # ten minutes, the holder looking every 5 s, the other too
        clock.now += 5
        assert await first.held()
        assert not await second.held()


async def test_a_holder_that_stops_is_taken_over_after_its_last_slot() -> None:
    clock = Clock(3000.0)
    first, second = leases(clock, "a", "b")
    assert await first.held()
    clock.now += 20  # the holder renews for slot 101, then stops
    assert await first.held()
    clock.now += 15  # slot 101: still the stopped holder's
    assert not await second.held()
    clock.now += 30  # slot 102: nobody renewed it
    assert await second.held()
    assert not await first.held()  # back again, the first process is not the holder


async def test_work_started_near_the_end_of_a_slot_needs_the_next_one_too() -> None:
    clock = Clock(3000.0)
    [only] = leases(clock, "a")
    assert await only.held()
    clock.now += 28  # the holder did not look in the second half until now: it renews now
    assert await only.held()


async def test_old_slots_are_deleted() -> None:
    clock = Clock(3000.0)
    collection: Any = Collection()
    lease = MongoLease(collection, "relay", ttl_seconds=30, owner="a", clock=clock)
    for _ in range(40):
        clock.now += 10
        assert await lease.held()
    assert len(collection.documents) <= 3


async def test_a_holder_that_shuts_down_is_replaced_when_the_next_slot_begins() -> None:
    clock = Clock(3000.0)
    first, second = leases(clock, "a", "b")
    assert await first.held()
    clock.now += 20  # renewed for slot 101
    assert await first.held()
    assert not await second.held()
    await first.release()
    clock.now += 10  # slot 101 begins: not the stopped holder's any more
    assert await second.held()
