"""The local stack's FerretDB serves equality filters from an index (the GIN twins of
deploy/local/postgres/ferretdb-gin-twins.sql), as production MongoDB does from its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.shared.mongo import Document, create_mongo_client
from tests.servers import Servers


@pytest.fixture
async def database(servers: Servers, run_id: str) -> AsyncIterator[AsyncDatabase[Document]]:
    if servers.origin != "local stack":
        pytest.skip("the GIN twins belong to the local stack's FerretDB on PostgreSQL")
    client: AsyncMongoClient[Document] = create_mongo_client(servers.mongo_url)
    yield client[f"{run_id}_indexes"]
    await client.drop_database(f"{run_id}_indexes")
    await client.close()


async def plan(database: AsyncDatabase[Document], query: Document) -> dict[str, Any]:
    explained = await database.command(
        "explain", {"find": "things", "filter": query}, verbosity="queryPlanner"
    )
    return explained["queryPlanner"]["Plan"]  # type: ignore[no-any-return]


def index_used(node: dict[str, Any]) -> str | None:
    if "Index Name" in node:
        return str(node["Index Name"])
    return next((name for child in node.get("Plans", []) if (name := index_used(child))), None)


async def test_equality_filters_use_an_index_of_their_field(
    database: AsyncDatabase[Document],
) -> None:
    things = database["things"]
    await things.insert_many(
        [{"_id": f"t-{n}", "school_id": f"s-{n % 7}", "queue": n % 3} for n in range(3000)]
    )
    await things.create_index([("queue", 1)], sparse=True)

    by_id = await plan(database, {"_id": "t-17"})
    assert (index_used(by_id) or "").endswith("_gin"), by_id  # FerretDB's own `_id_` index
    by_queue = await plan(database, {"queue": 2})
    assert (index_used(by_queue) or "").endswith("_gin"), by_queue
    assert index_used(await plan(database, {"school_id": "s-3"})) is None  # no index declared
    assert await things.count_documents({"queue": 2}) == 1000

    await things.drop_index("queue_1")
    assert index_used(await plan(database, {"queue": 2})) is None  # the twin went with it
