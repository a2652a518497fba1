"""The idempotency records, written to and read back from the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

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


async def test_a_delivery_is_claimed_once_and_remembers_it_was_sent(
    database: AsyncDatabase[Document],
) -> None:
    deliveries = MongoDeliveries(database)
    await deliveries.ensure_indexes()
    requests, _ = notification_requests(MarkPosted.new(a_mark(), producer="t"), [CONSENTING], NOW)
    request = requests[0]
    key = request.payload.dedupe_key

    assert await deliveries.claim(request) == "queued"
    assert await deliveries.claim(request) == "queued"
    stored = await deliveries.find(key)
    assert stored is not None
    assert (stored["status"], stored["recipient_id"]) == ("queued", "g-1")
    assert "address" not in stored  # contact data stays with the consent service

    await deliveries.mark_sent(key, "<id@vestnik.local>", request.occurred_at)
    assert await deliveries.claim(request) == "sent"
    assert await database["deliveries"].count_documents({}) == 1
