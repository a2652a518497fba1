"""The idempotency records, written to and read back from the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schemas import MarkPosted
from services.consent.domain import notification_requests
from services.notifier.store import MongoDeliveries
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

    assert [await deliveries.accept(request, NOW) for _ in range(2)] == [True, False]
    assert await deliveries.due(NOW) == [key]
    claimed = await deliveries.claim(key, NOW)
    assert claimed is not None and (claimed.attempts, claimed.request) == (1, request)
    assert await deliveries.claim(key, NOW) is None  # one claimant only
    assert await deliveries.due(NOW) == []

    later = NOW + timedelta(seconds=30)
    await deliveries.retry_at(key, later, "SMTP 451")
    assert await deliveries.due(NOW) == []
    assert await deliveries.due(later) == [key]
    again = await deliveries.claim(key, later)
    assert again is not None and again.attempts == 2
    await deliveries.finish(key, "sent", later, message_id="<id@vestnik.local>")
    stored = await deliveries.find(key)
    assert stored is not None
    assert (stored["status"], stored["recipient_id"], stored["attempts"]) == ("sent", "g-1", 2)
    # An interrupted attempt (left `sending`) comes due again once its lease has passed.
    other = requests[1]
    await deliveries.accept(other, NOW)
    await deliveries.claim(other.payload.dedupe_key, NOW)
    assert await deliveries.due(NOW + timedelta(minutes=3)) == [other.payload.dedupe_key]
