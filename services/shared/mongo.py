"""MongoDB plumbing: the async PyMongo client, its command count, and batched writes.

What keeps a query cheap on both stores: production MongoDB serves it from the indexes each
store declares; the local FerretDB on PostgreSQL pushes only top-level equality filters down to
SQL (a GIN twin of every index serves them, see deploy/local/postgres/), and filters `$in`,
ranges and sorts in its own process after reading what the equalities selected. So a hot query
always carries an equality that narrows it to a small set: an `_id`, a school, a queue flag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from pymongo.operations import DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

Document = dict[str, Any]
WriteOperation = InsertOne[Document] | UpdateOne | UpdateMany | ReplaceOne[Document] | DeleteOne

DUPLICATE_KEY = 11000
# FerretDB 1.24 holds one PostgreSQL connection per statement of a bulk write until the command
# ends: a bulk write as large as its pool (50 by default) waits forever for a connection. So
# bulk writes go in small pieces (and the local stack gives FerretDB a larger pool).
BULK_CHUNK = 16


class CommandCounter(monitoring.CommandListener):
    """Counts the database commands a process sends (`vestnik_db_commands_total{command}`):
    the round trips per notice that `make bench` reports and a test keeps low."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.counter = Counter(
            "vestnik_db_commands",
            "Database commands sent, by command name.",
            ["command"],
            registry=registry,
        )
        self.counts: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("hello", "isMaster", "ismaster", "ping", "endSessions"):
            return  # the driver's own heartbeats and health checks, not our work
        self.counter.labels(event.command_name).inc()
        self.counts[event.command_name] = self.counts.get(event.command_name, 0) + 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def total(self) -> int:
        return sum(self.counts.values())


def create_mongo_client(
    url: str, *, commands: CommandCounter | None = None
) -> AsyncMongoClient[Document]:
    # tz_aware: datetimes come back as aware UTC, like the ones our events carry.
    return AsyncMongoClient(
        url,
        tz_aware=True,
        uuidRepresentation="standard",
        appname="vestnik",
        event_listeners=[commands] if commands else [],
    )


async def bulk_write(
    collection: AsyncCollection[Document], operations: Sequence[Any], *, concurrency: int = 4
) -> int:
    """Unordered bulk writes, in pieces FerretDB copes with, a few pieces at a time (FerretDB
    works through one piece's statements one by one: pieces side by side use both cores);
    duplicate inserts are ignored (the document is there already: an insert-once record written
    again). Returns how many documents the updates matched."""
    pieces = [
        list(operations[start : start + BULK_CHUNK])
        for start in range(0, len(operations), BULK_CHUNK)
    ]
    limit = asyncio.Semaphore(concurrency)

    async def write(piece: list[Any]) -> int:
        async with limit:
            try:
                result = await collection.bulk_write(piece, ordered=False)
            except BulkWriteError as error:
                if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
                    raise
                return int(error.details["nMatched"])
            return result.matched_count

    return sum(await asyncio.gather(*(write(piece) for piece in pieces)))


async def insert_new(collection: AsyncCollection[Document], documents: list[Document]) -> set[int]:
    """Insert each document unless its `_id` exists; return the positions that existed."""
    if not documents:
        return set()
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        existing = set()
        for write_error in error.details["writeErrors"]:
            if write_error["code"] != DUPLICATE_KEY:
                raise
            existing.add(write_error["index"])
        return existing
    return set()


def over_older(document: Document) -> ReplaceOne[Document]:
    """Replace a versioned record where it holds an older `record_version` (or none); no
    upsert: FerretDB answers an upsert that meets a newer version with a duplicate key and no
    counts, which pymongo cannot merge."""
    query: Document = {"_id": document["_id"]}
    if (version := document.get("record_version")) is not None:
        query["$or"] = [
            {"record_version": {"$exists": False}},
            {"record_version": {"$lt": version}},
        ]
    return ReplaceOne(query, {k: v for k, v in document.items() if k != "_id"})


async def put_versioned(collection: AsyncCollection[Document], documents: list[Document]) -> None:
    """Write each record (one document per journal record, a tombstone for a retraction)
    only over an older version of itself: replace those held in an older version, then
    insert the ones not there yet (the others are duplicates or newer: ignored). Its writer
    must be the record's only one (its topic partition's consumer)."""
    if await bulk_write(collection, [over_older(d) for d in documents]) < len(documents):
        for start in range(0, len(documents), BULK_CHUNK):
            await insert_new(collection, documents[start : start + BULK_CHUNK])
