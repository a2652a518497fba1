"""The schedule of one notifier process: the open deliveries of the partitions it owns.

Kafka gives each partition of `notify.requests.v1` to one notifier in the group, and a request
is keyed by its student, so every channel of one event and recipient lands in one partition.
The process that owns a partition is therefore the only one that sends its deliveries: the
schedule lives in memory (ordered by priority and due time, no query per pass), while MongoDB
keeps every delivery durably and gives a partition's open ones to its next owner.

A final result whose channel failed for good stays *watched* until its deadline: then, if no
channel of the recipient got through, it is a missed deadline (clause 9).

Pure data structure: no I/O, no clock of its own.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from schemas import NotificationRequested
from services.notifier.domain import Status

# How many ended deliveries the schedule remembers for the fallback ("did e-mail get through?");
# beyond that, the record in MongoDB answers.
ENDED_MEMORY = 200_000
Pair = tuple[str, str]  # (source event, recipient): the channels of one piece of news


@dataclass
class Pending:
    """An open delivery: queued, waiting to retry (until `due`), or failed and watched."""

    request: NotificationRequested
    partition: int
    attempts: int
    due: datetime
    status: Status = "queued"
    version: int = field(default=0, compare=False)  # which heap entry is current

    @property
    def key(self) -> str:
        return self.request.payload.dedupe_key

    @property
    def pair(self) -> Pair:
        payload = self.request.payload
        return str(payload.source_event_id), payload.recipient_id

    @property
    def channel(self) -> str:
        return self.request.payload.channel


class Schedule:
    def __init__(self) -> None:
        self._pending: dict[str, Pending] = {}
        self._in_flight: dict[str, Pending] = {}
        self._watched: dict[str, Pending] = {}
        # Urgent (deadline-bound) lanes before ordinary ones, one per channel, each by due
        # time; stale entries (a delivery since rescheduled or ended) are skipped when they
        # come up.
        self._lanes: dict[tuple[str, str], list[tuple[datetime, int, str, int]]] = {
            (priority, channel): []
            for priority in ("urgent", "normal")
            for channel in ("email", "sms", "inbox")
        }
        self._order = itertools.count()
        self._pairs: dict[Pair, dict[str, str]] = {}
        self._ended: OrderedDict[tuple[str, str, str], Status] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending) + len(self._in_flight) + len(self._watched)

    def __contains__(self, key: str) -> bool:
        return key in self._pending or key in self._in_flight or key in self._watched

    def get(self, key: str) -> Pending | None:
        return self._pending.get(key) or self._in_flight.get(key) or self._watched.get(key)

    def add(self, pending: Pending) -> None:
        """A delivery recorded as open (new, or loaded when its partition was taken over)."""
        if pending.key in self:
            return
        self._pairs.setdefault(pending.pair, {})[pending.channel] = pending.key
        if pending.status == "failed":
            self._watched[pending.key] = pending
            return
        self._pending[pending.key] = pending
        self._push(pending)

    def _push(self, pending: Pending) -> None:
        pending.version += 1
        lane = self._lanes[pending.request.payload.priority, pending.channel]
        heapq.heappush(lane, (pending.due, next(self._order), pending.key, pending.version))

    def _current(self, entry: tuple[datetime, int, str, int]) -> bool:
        pending = self._pending.get(entry[2])
        return pending is not None and pending.version == entry[3]

    def next_due(self) -> datetime | None:
        """When the earliest delivery comes due (it may be now, or past)."""
        for lane in self._lanes.values():
            while lane and not self._current(lane[0]):
                heapq.heappop(lane)
        tops = [lane[0][0] for lane in self._lanes.values() if lane]
        return min(tops) if tops else None

    def take_due(
        self, now: datetime, limit: int, per_channel: Mapping[str, int] | None = None
    ) -> list[Pending]:
        """Up to `limit` deliveries due now (and up to `per_channel[c]` of channel c), urgent
        ones first, each oldest first; they are in flight until `reschedule` or `end`."""
        taken: list[Pending] = []
        channel_taken: Counter[str] = Counter()
        for (_, channel), lane in self._lanes.items():
            cap = (per_channel or {}).get(channel, limit)
            while (
                lane and len(taken) < limit and channel_taken[channel] < cap and lane[0][0] <= now
            ):
                entry = heapq.heappop(lane)
                if not self._current(entry):
                    continue
                pending = self._pending.pop(entry[2])
                self._in_flight[pending.key] = pending
                taken.append(pending)
                channel_taken[channel] += 1
        return taken

    def reschedule(self, key: str, due: datetime, *, attempts: int, status: Status) -> None:
        """Back in the queue (a retry, or held for quiet hours)."""
        pending = self._in_flight.pop(key, None) or self._pending.get(key)
        if pending is None:
            return
        pending.due, pending.attempts, pending.status = due, attempts, status
        self._pending[key] = pending
        self._push(pending)

    def watch(self, key: str) -> None:
        """A final result's channel failed for good: kept until its deadline is judged."""
        pending = self._in_flight.pop(key, None) or self._pending.pop(key, None)
        if pending is not None:
            pending.status = "failed"
            self._watched[key] = pending

    def end(self, key: str, status: Status) -> None:
        pending = (
            self._in_flight.pop(key, None)
            or self._pending.pop(key, None)
            or self._watched.pop(key, None)
        )
        if pending is None:
            return
        channels = self._pairs.get(pending.pair, {})
        channels.pop(pending.channel, None)
        if not channels:
            self._pairs.pop(pending.pair, None)
        self._ended[(*pending.pair, pending.channel)] = status
        while len(self._ended) > ENDED_MEMORY:
            self._ended.popitem(last=False)

    def siblings(self, pair: Pair) -> dict[str, Status]:
        """The state of each channel telling this recipient about this event, as far as this
        process knows: open ones, and ones it saw end."""
        states: dict[str, Status] = {}
        for channel in ("email", "sms", "inbox"):
            ended = self._ended.get((*pair, channel))
            if ended is not None:
                states[channel] = ended
        for channel, key in self._pairs.get(pair, {}).items():
            if key in self._in_flight:
                states[channel] = "sending"
            elif (pending := self._pending.get(key) or self._watched.get(key)) is not None:
                states[channel] = pending.status
        return states

    def bring_forward(self, pair: Pair, channels: Iterable[str], now: datetime) -> list[Pending]:
        """The channels waiting behind one that ended need not wait: due now. Returns those
        brought forward."""
        moved = []
        for channel in channels:
            pending = self._pending.get(self._pairs.get(pair, {}).get(channel, ""))
            if pending is not None and pending.status == "queued" and pending.due > now:
                pending.due = now
                self._push(pending)
                moved.append(pending)
        return moved

    def overdue(self, now: datetime) -> list[Pending]:
        """Deadline-bound deliveries, open or watched, whose deadline has passed (not those in
        flight: the pass that holds them decides first)."""
        return [
            pending
            for pending in (*self._pending.values(), *self._watched.values())
            if pending.request.payload.deadline is not None
            and pending.request.payload.deadline <= now
        ]

    def in_pair(self, pair: Pair) -> list[Pending]:
        """The pair's deliveries that are open or watched."""
        return [p for key in self._pairs.get(pair, {}).values() if (p := self.get(key))]

    def oldest_deadline_bound(self) -> datetime | None:
        """When the oldest final result still being tried was obtained (or recorded)."""
        started = [
            getattr(p.request.payload.content, "obtained_at", None) or p.request.recorded_at
            for p in (*self._pending.values(), *self._in_flight.values())
            if p.request.payload.deadline is not None
        ]
        return min(started) if started else None

    def partitions(self) -> set[int]:
        return {p.partition for p in (*self._pending.values(), *self._watched.values())}

    def drop_partitions(self, partitions: set[int]) -> None:
        """Another process owns these now (after a rebalance): forget their deliveries."""
        for entries in (self._pending, self._watched):
            for key, pending in list(entries.items()):
                if pending.partition in partitions:
                    del entries[key]
                    self._pairs.pop(pending.pair, None)
