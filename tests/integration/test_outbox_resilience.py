"""Nothing the journal handed over is lost or published twice: not when Kafka is away, not
when the relay is killed in the middle of publishing. Both tests stop real processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pymongo import AsyncMongoClient

from schemas import MarkPosted, Topics
from tests.kafka_tools import eventually, read_topic
from tests.school import a_mark, load_grades_reference, post_journal
from tests.servers import Servers
from tests.services import running


def mark_ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [MarkPosted.model_validate_json(record.value).payload.mark_id for record in records]


async def test_marks_accepted_while_kafka_is_down_are_published_once_it_returns(
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

    ids = mark_ids(records)
    assert sorted(ids) == sorted(["m-before", *[f"m-{n:02d}" for n in range(50)]])


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
    quick = {"outbox_poll_seconds": 0.2, "relay_lease_seconds": 2.0, **service_env}
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
