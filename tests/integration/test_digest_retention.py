"""The digest keeps what it wrote about students only as long as its retention periods say
(152-FZ art. 21): a background purge deletes the rest and counts it (issue 12, defect 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient

from services.shared.mongo import Document, create_mongo_client
from tests.kafka_tools import eventually
from tests.servers import Servers
from tests.services import running

# What the digest writes per student, and the field its age is read from.
COLLECTIONS = {
    "printouts": "hand_over_by",
    "weekly_published": "published_at",
    "weekly_runs": "started_at",
}


async def test_expired_printouts_publication_records_and_runs_are_purged_and_counted(
    servers: Servers, service_env: dict[str, object], run_id: str
) -> None:
    now = datetime.now(UTC)
    client: AsyncMongoClient[Document] = create_mongo_client(servers.mongo_url)
    db = client[f"{run_id}_digest"]
    for collection, field in COLLECTIONS.items():
        await db[collection].insert_many(
            [
                {"_id": "old", "school_id": "school-1", field: now - timedelta(days=31)},
                {"_id": "recent", "school_id": "school-1", field: now - timedelta(days=29)},
            ]
        )
    periods = {
        "printouts_retention_days": 30,
        "published_retention_days": 30,
        "runs_retention_days": 30,
        "retention_every_seconds": 0.5,
    }
    try:
        async with running("digest", run_id, scheduler=False, **periods, **service_env) as digest:

            async def purged() -> bool:
                left = {c: await db[c].distinct("_id") for c in COLLECTIONS}
                return all(ids == ["recent"] for ids in left.values())

            await eventually(purged, timeout=30)
            metrics = (await digest.get("/metrics")).text
            for collection in COLLECTIONS:
                line = f'vestnik_retention_purged_total{{collection="{collection}"}} 1.0'
                assert line in metrics, collection
    finally:
        await client.close()
