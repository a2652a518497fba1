"""The idempotency records, written to and read back from the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schemas import MarkPosted
from services.consent.domain import notification_requests
from services.notifier.store import MongoDeliveries, MongoSchoolZones
from services.shared.mongo import Document, ProcessedEvents, create_mongo_client
from tests.servers import Servers
from tests.unit.test_consent_domain import CONSENTING, NOW
from tests.unit.test_schemas import a_mark


@pytest.fixture
async def database(servers: Servers, run_id: str) -> AsyncIterator[AsyncDatabase[Document]]:
    client: AsyncMongoClient[Document] = create_mongo_client(servers.mongo_url)
    yield client[f"{run_id}_stores"]
    await client.drop_database(f"{run_id}_stores")
    await client.close()


async def test_an_event_is_processed_once(database: AsyncDatabase[Document]) -> None:
    processed = ProcessedEvents(database["processed_events"])
    event_id = uuid.uuid4()
    assert not await processed.is_processed(event_id)
    assert await processed.mark(event_id) is True
    assert await processed.mark(event_id) is False
    assert await processed.is_processed(event_id)


async def test_a_delivery_is_accepted_once_claimed_once_and_rescheduled(
    database: AsyncDatabase[Document],
) -> None:
    deliveries = MongoDeliveries(database)
    await deliveries.ensure_indexes()
    requests, _ = notification_requests(MarkPosted.new(a_mark(), producer="t"), [CONSENTING], NOW)
    request = requests[0]
    key = request.payload.dedupe_key

    assert [await deliveries.accept(request, NOW, start_at=NOW) for _ in range(2)] == [True, False]
    assert await deliveries.due(NOW, limit=10) == [key]
    claimed = await deliveries.claim(key, NOW)
    assert claimed is not None and (claimed.attempts, claimed.request) == (1, request)
    assert await deliveries.claim(key, NOW) is None  # one claimant only
    assert await deliveries.due(NOW, limit=10) == []

    later = NOW + timedelta(seconds=30)
    await deliveries.retry_at(key, later, "SMTP 451")
    assert await deliveries.due(NOW, limit=10) == []
    assert await deliveries.due(later, limit=10) == [key]
    again = await deliveries.claim(key, later)
    assert again is not None and again.attempts == 2
    await deliveries.finish(key, "sent", later, message_id="<id@vestnik.local>")
    stored = await deliveries.find(key)
    assert stored is not None
    assert (stored["status"], stored["recipient_id"], stored["attempts"]) == ("sent", "g-1", 2)
    # An interrupted attempt (left `sending`) comes due again once its lease has passed.
    other = requests[1]
    await deliveries.accept(other, NOW, start_at=NOW)
    await deliveries.claim(other.payload.dedupe_key, NOW)
    assert await deliveries.due(NOW + timedelta(minutes=3), limit=10) == [other.payload.dedupe_key]


async def test_a_final_result_goes_before_a_backlog_of_ordinary_marks(
    database: AsyncDatabase[Document],
) -> None:
    deliveries = MongoDeliveries(database)
    backlog = []
    for n in range(60):
        event = MarkPosted.new(a_mark(mark_id=f"m-{n}"), producer="t")
        requests, _ = notification_requests(event, [CONSENTING], NOW)
        backlog.append(requests[0])
    urgent = backlog[-1].model_copy(update={"payload": backlog[-1].payload.model_copy(
        update={"dedupe_key": "final:g-1:email", "priority": "urgent"})})  # fmt: skip
    for request in [*backlog, urgent]:
        await deliveries.accept(request, NOW, start_at=NOW)

    due = await deliveries.due(NOW, limit=50)
    assert due[0] == "final:g-1:email"
    assert len(due) == 50
    assert set(due[1:]) <= {r.payload.dedupe_key for r in backlog}


async def test_a_school_s_time_zone_is_kept_with_a_default_until_known(
    database: AsyncDatabase[Document],
) -> None:
    zones = MongoSchoolZones(database, default=ZoneInfo("Europe/Moscow"))
    assert await zones.zone("school-1") == ZoneInfo("Europe/Moscow")
    await zones.save("school-1", "Asia/Yekaterinburg")
    await zones.save("school-2", "Not/AZone")
    assert await zones.zone("school-1") == ZoneInfo("Asia/Yekaterinburg")
    assert await zones.zone("school-2") == ZoneInfo("Europe/Moscow")
