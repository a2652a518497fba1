"""Fixtures of the integration tests: one service's parts on the real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.shared.mongo import Document, create_mongo_client
from tests.servers import Servers


@pytest.fixture
async def database(servers: Servers, run_id: str) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of the test's own on the real server, dropped after it."""
    client: AsyncMongoClient[Document] = create_mongo_client(servers.mongo_url)
    yield client[f"{run_id}_stores"]
    await client.drop_database(f"{run_id}_stores")
    await client.close()
