"""Nothing the journal handed over is lost, not when Kafka is away, not when the relay is
killed in the middle of publishing; a killed relay publishes nothing twice. The tests stop
real processes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from schemas import MarkPosted, Topics
from services.grades.app import PUBLISHES
from services.grades.config import Settings
from services.shared.outbox import OutboxRelay, PendingRecord
from services.shared.runtime import Runtime
from tests.conftest import AUTH
from tests.kafka_tools import eventually, read_topic
from tests.school import SCHOOL, a_mark, load_grades_reference, post_journal
from tests.servers import Servers
from tests.services import running


def mark_ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [MarkPosted.model_validate_json(record.value).payload.mark_id for record in records]


@pytest.mark.stops_kafka
async def test_marks_accepted_while_kafka_is_down_are_published_when_it_returns(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    kafka = servers.kafka_process
    if kafka is None:
        pytest.skip("needs a broker this session may stop and start (the local stack)")
    async with running("grades", run_id, outbox_poll_seconds=0.5, **service_env) as grades:
        await load_grades_reference(grades)
        await post_journal(grades, a_mark("m-before"))
        await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)

        await asyncio.to_thread(kafka.down)
        try:
            during = await post_journal(grades, *[a_mark(f"m-{n:02d}") for n in range(50)])
            health = await grades.get("/healthz")
        finally:
            await asyncio.to_thread(kafka.up)

        assert during.status_code == 200
        assert during.json()["summary"]["accepted"] == 50
        assert during.json()["events"] == "queued while Kafka is unreachable"
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        records = await read_topic(
            servers.kafka_bootstrap, topics.of(MarkPosted), at_least=51, timeout=90, settle=3.0
        )

    # Nothing lost. A send whose acknowledgement timed out while the broker came back may land
    # after the relay looked at the partition tails: then it is on the topic twice, as the
    # same event, which every consumer drops by its id.
    ids = mark_ids(records)
    assert set(ids) == {"m-before", *[f"m-{n:02d}" for n in range(50)]}
    assert all_copies_are_one_event(records)


def all_copies_are_one_event(records: list) -> bool:  # type: ignore[type-arg]
    events = [MarkPosted.model_validate_json(record.value) for record in records]
    event_ids_by_mark: dict[str, set[object]] = {}
    for event in events:
        event_ids_by_mark.setdefault(event.payload.mark_id, set()).add(event.event_id)
    return all(len(event_ids) == 1 for event_ids in event_ids_by_mark.values())


async def test_a_relay_killed_mid_publish_loses_nothing_and_duplicates_nothing(
    servers: Servers,
    grades_process: dict,
    topics: Topics,
    run_id: str,  # type: ignore[type-arg]
) -> None:
    first = grades_process["start"]()
    async with httpx.AsyncClient(base_url=grades_process["url"], timeout=60) as grades:
        await load_grades_reference(grades)
        response = await post_journal(grades, *[a_mark(f"m-{n:04d}") for n in range(1000)])
        assert response.json()["summary"]["accepted"] == 1000
        # Kill it as soon as anything is out: it is then recording what it published.
        await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)
        first.kill()
        first.wait()

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongo_url)
    records_collection = client[f"{run_id}_grades"]["records"]
    pending = {"outbox_seq": {"$exists": True}}
    try:
        assert await records_collection.count_documents(pending) > 0, "killed too late to test"
        grades_process["start"]()

        async def outbox_empty() -> bool:
            return await records_collection.count_documents(pending) == 0

        await eventually(outbox_empty, timeout=120)
    finally:
        await client.close()
    records = await read_topic(
        servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1000, settle=3.0
    )
    ids = mark_ids(records)
    assert len(ids) == 1000, f"{len(ids) - len(set(ids))} published twice"
    assert set(ids) == {f"m-{n:04d}" for n in range(1000)}


async def test_of_two_relays_only_the_lease_holder_publishes(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    """Issue 12, defect 6: two grades replicas on one database, each with its relay. Each
    takes journal batches; one relay publishes all of them, each once."""
    # Slots long enough that a busy moment of this 2-core machine does not hand the lease over.
    quick = {"outbox_poll_seconds": 0.2, "relay_lease_seconds": 10.0, **service_env}
    async with (
        running("grades", run_id, **quick) as first,
        running("grades", run_id, **quick) as second,
    ):
        await load_grades_reference(first)
        for n in range(10):
            replica = (first, second)[n % 2]
            response = await post_journal(replica, *[a_mark(f"m-{n}-{k}") for k in range(20)])
            assert response.json()["summary"]["accepted"] == 20
            await asyncio.sleep(0.3)
        records = await read_topic(
            servers.kafka_bootstrap, topics.of(MarkPosted), at_least=200, timeout=60, settle=3.0
        )
        published = [
            _published_marks((await replica.get("/metrics")).text) for replica in (first, second)
        ]

    ids = mark_ids(records)
    assert sorted(ids) == sorted(f"m-{n}-{k}" for n in range(10) for k in range(20))
    assert sorted(published) == [0, 200], published


def _published_marks(metrics: str) -> int:
    for line in metrics.splitlines():
        if line.startswith('vestnik_grades_events_published_total{type="MarkPosted"}'):
            return int(float(line.split()[-1]))
    return 0


class _AsRead:
    """What a second relay read from the outbox before the first one published it."""

    def __init__(self, records: list[PendingRecord]) -> None:
        self.records = records

    async def pending_events(self, limit: int) -> list[PendingRecord]:
        return self.records[:limit]

    async def mark_published(self, records: list[PendingRecord]) -> None:
        self.records = []

    async def outbox_backlog(self) -> int:
        return len(self.records)


async def test_a_stale_mark_from_a_second_relay_does_not_resurrect_its_retraction(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    """Issue 12, defect 6: a relay that read a mark's MarkPosted, then stalled (or lost its
    lease mid-send) while the other relay published the mark and its retraction, publishes
    the stale MarkPosted last. The digest applies events by record version: the mark stays
    retracted."""
    week = f"/v1/schools/{SCHOOL}/students/st-1/weeks/2026-W48"
    second = Runtime.build(
        "grades", Settings(**service_env, mongo_db=f"{run_id}_grades"), publishes=PUBLISHES
    )
    async with (
        running("digest", run_id, **service_env) as digest,
        running("grades", run_id, outbox_poll_seconds=0.2, **service_env) as grades,
        second.running(kafka_at_start=False),
    ):

        async def marks_in_digest() -> list[str]:
            response = await digest.get(week, headers=AUTH)
            if response.status_code != 200:
                return []
            return sorted(m["value"] for s in response.json()["subjects"] for m in s["marks"])

        await load_grades_reference(grades)
        await post_journal(grades, a_mark("m-1", value="5"))
        [posted] = await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)
        read_by_second = PendingRecord(
            "records", f"{SCHOOL}/mark/m-1", 1, [MarkPosted.model_validate_json(posted.value)]
        )
        assert await eventually(marks_in_digest) == ["5"]
        await post_journal(grades, {"kind": "mark_retraction", "mark_id": "m-1"})
        await eventually(lambda: _empty(marks_in_digest))

        stale_relay = OutboxRelay(
            _AsRead([read_by_second]),
            second.publish.publish_all,
            connect=lambda: second.connect_kafka(*PUBLISHES),
            recently_published=_nothing_in_doubt,
            poll_seconds=0.2,
        )
        assert await stale_relay.publish_pending() == 1
        # A later mark of the same student comes after the stale one on its partition.
        await post_journal(grades, a_mark("m-2", value="3"))

        async def later_mark_applied() -> list[str] | None:
            marks = await marks_in_digest()
            return marks if "3" in marks else None

        assert await eventually(later_mark_applied) == ["3"]


async def _empty(marks: Any) -> bool:
    return await marks() == []


async def _nothing_in_doubt() -> set[str]:
    return set()
