"""A lease in MongoDB: of several processes, one at a time does a job (an outbox relay).

FerretDB (the local store) updates a document by reading, changing and writing it back without
a lock, so a lease renewed by compare-and-set on one document could be taken by two processes
at once. An insert under a unique `_id` is atomic on both stores, so the lease is made of
inserts only: time is cut into slots of `ttl_seconds` (by the wall clock, which processes
share), slot `n` is the document `{name}/{n}`, and whoever inserts it holds the lease for that
slot. The holder inserts the next slot's document in the second half of its own, so it keeps
the lease as long as it runs; the others try once per slot, and win only a slot the holder did
not renew (it died, or lost its store), at most 1.5 slots after it stopped; a holder that shuts
down releases its slots, so another takes over when the next slot begins. Clocks that disagree
by less than half a slot cannot make two holders of one slot.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.shared.mongo import Document

log = logging.getLogger(__name__)


class Lease(Protocol):
    async def held(self) -> bool: ...
    async def release(self) -> None: ...


class MongoLease:
    """`held()` before each piece of work that must not overlap another holder's; call it at
    least every third of `ttl_seconds`, or the lease lapses between calls."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        name: str,
        *,
        ttl_seconds: float,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._collection = collection
        self._name = name
        self._ttl = ttl_seconds
        # Work begun while the lease is held must end within this, or the next slot's holder
        # could be at work too.
        self._margin = ttl_seconds / 3
        self._owner = owner or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._known: dict[int, bool] = {}  # slot → ours or not, once tried

    async def held(self) -> bool:
        """Whether this process holds the lease now and for the next third of a slot."""
        now = self._clock()
        slot = int(now // self._ttl)
        if not await self._holds(slot):
            return False
        if now >= (slot + 0.5) * self._ttl and not await self._holds(slot + 1):
            return now + self._margin < (slot + 1) * self._ttl
        return True

    async def release(self) -> None:
        """On shutdown, once the work has stopped: the next holder need not wait for the slots
        this process took."""
        self._known.clear()
        await self._collection.delete_many({"name": self._name, "holder": self._owner})

    async def _holds(self, slot: int) -> bool:
        """Try once to take `slot` (or learn that it is someone else's); remember the answer."""
        if slot in self._known:
            return self._known[slot]
        document_id = f"{self._name}/{slot}"
        try:
            await self._collection.insert_one(
                {
                    "_id": document_id,
                    "name": self._name,
                    "slot": slot,
                    "holder": self._owner,
                    "expires_at": datetime.fromtimestamp((slot + 1) * self._ttl, UTC),
                }
            )
            ours = True
        except DuplicateKeyError:
            # Ours too when our own insert landed but its answer was lost and this is a retry.
            found = await self._collection.find_one({"_id": document_id})
            ours = found is not None and found.get("holder") == self._owner
        self._known = {s: o for s, o in self._known.items() if s >= slot - 1}
        self._known[slot] = ours
        before = self._known.get(slot - 1)
        if ours and not before:
            log.info("lease %s taken by %s", self._name, self._owner)
        elif before and not ours:
            log.info("lease %s lost by %s", self._name, self._owner)
        if ours:
            await self._collection.delete_many({"name": self._name, "slot": {"$lt": slot - 1}})
        return ours
