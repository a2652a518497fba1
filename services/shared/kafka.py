"""Kafka plumbing: the broker factory, dead letters, subscribing (one by one or in batches),
and publishing events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import TypeAdapter, ValidationError

from schemas import Envelope
from schemas.topics import Topics
from services.shared.tasks import keep_running, stop_if_cancelled

log = logging.getLogger(__name__)

# Raised while decoding a message that can never be processed, however often it is retried.
POISON_ERRORS = (ValidationError, UnicodeDecodeError)
RETRY_PAUSE_SECONDS = 1.0


class DeadLetters:
    """Moves a message that can never be processed to `<topic>.dlt`, with the reason in the
    `x-error` header (field paths only, never values: they may be personal data)."""

    def __init__(self, broker: KafkaBroker, topics: Topics, registry: CollectorRegistry) -> None:
        self._broker = broker
        self._topics = topics
        self._counter = Counter(
            "vestnik_dead_letters",
            "Messages moved to a dead-letter topic.",
            ["topic"],
            registry=registry,
        )

    async def send(self, record: ConsumerRecord[Any, Any], error: Exception) -> None:
        dead_letter_topic = self._topics.dead_letter(record.topic)
        reason = _describe(error)
        log.warning(
            "dead-lettered %s[%s]@%s to %s: %s",
            record.topic,
            record.partition,
            record.offset,
            dead_letter_topic,
            reason,
        )
        await self._broker.publish(
            record.value or b"",
            topic=dead_letter_topic,
            key=record.key,
            headers={
                "x-error": reason[:1000],
                "x-original-topic": record.topic,
                "x-original-partition": str(record.partition),
                "x-original-offset": str(record.offset),
            },
        )
        self._counter.labels(record.topic).inc()


def create_broker(
    bootstrap: str, *, service: str, topics: Topics, registry: CollectorRegistry
) -> tuple[KafkaBroker, DeadLetters]:
    """A broker that produces durably (acks=all, idempotent) and dead-letters poison messages."""
    broker = KafkaBroker(
        bootstrap,
        client_id=f"vestnik-{service}",
        acks="all",
        enable_idempotence=True,
        graceful_timeout=10.0,
        # A send to an unreachable broker fails after this, so callers notice an outage soon.
        request_timeout_ms=15_000,
        logger=logging.getLogger(f"vestnik.{service}.kafka"),
    )
    broker.add_middleware(
        KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="vestnik")
    )
    dead_letters = DeadLetters(broker, topics, registry)
    broker.add_middleware(_dead_letter_middleware(dead_letters))
    return broker, dead_letters


def _dead_letter_middleware(dead_letters: DeadLetters) -> type[BaseMiddleware]:
    class DeadLetterMiddleware(BaseMiddleware):
        """Moves a message that fails validation to `<topic>.dlt`, so the consumer keeps going.
        (A batch subscriber sorts its poison messages out while decoding: `subscribe_batch`.)

        Other errors propagate: the subscriber's NACK_ON_ERROR policy seeks back and the
        message is processed again.
        """

        async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
            try:
                return await call_next(msg)
            except POISON_ERRORS as error:
                if isinstance(msg.raw_message, tuple):
                    raise  # a batch: its decoder already took every poison message out
                await dead_letters.send(msg.raw_message, error)
                return None
            except Exception:
                # Not the message's fault (a database or SMTP outage): pause before the
                # redelivery, so an outage is not a busy loop.
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                raise

    return DeadLetterMiddleware


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        # Field paths and reasons only: input values may be personal data.
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in error.errors()
        )
    return f"{type(error).__name__}: {error}"


# A service has a consumer per topic in one group, and each one joining makes the others
# rejoin; they notice at their next heartbeat. At aiokafka's 3 s a service with a dozen topics
# took half a minute to settle at every start (or deploy); at 0.5 s, a few seconds.
HEARTBEAT_MS = 500


def subscribe(
    broker: KafkaBroker, topics: Topics, event: type[Envelope[Any]], *, group_id: str
) -> Callable[[Callable[..., Awaitable[None]]], Any]:
    """The one consumer policy: a new group starts from the earliest offset, and an offset is
    committed only after its handler succeeded (an error seeks back and redelivers)."""
    return broker.subscriber(
        topics.of(event),
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        heartbeat_interval_ms=HEARTBEAT_MS,
    )


def subscribe_batch(
    broker: KafkaBroker,
    topics: Topics,
    event: type[Envelope[Any]],
    *,
    of: Any,
    group_id: str,
    dead_letters: DeadLetters,
    max_records: int = 500,
    listener: ConsumerRebalanceListener | None = None,
) -> Callable[[Callable[..., Awaitable[None]]], Any]:
    """Like `subscribe`, but the handler takes a list of up to `max_records` events of type
    `of` (what arrived together), so it can do its database work once per batch. Each message
    is validated on its own: a poison one goes to the dead-letter topic and the rest of its
    batch is handled. The offsets are committed after the handler succeeds; an error
    redelivers the whole batch. `listener` hears which partitions this consumer owns."""
    adapter: TypeAdapter[Any] = TypeAdapter(of)

    async def decode(msg: StreamMessage[Any]) -> list[Any]:
        valid = []
        for record in msg.raw_message:
            try:
                valid.append(adapter.validate_python(json.loads(record.value or b"")))
            except ValueError as error:  # not UTF-8, not JSON, or not the event's schema
                await dead_letters.send(record, error)
        return valid

    return broker.subscriber(
        topics.of(event),
        batch=True,
        max_records=max_records,
        batch_timeout_ms=50,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=decode,
        listener=listener,
        heartbeat_interval_ms=HEARTBEAT_MS,
    )


def batch_subscriptions(
    broker: KafkaBroker, topics: Topics, *, group_id: str, dead_letters: DeadLetters
) -> Callable[[type[Envelope[Any]], Any], Callable[[Callable[..., Awaitable[None]]], Any]]:
    """`batches_of(Event, Union)`: `subscribe_batch` to `Event`'s topic, reading `Union`, with
    what all of one service's batch subscribers share."""

    def batches_of(
        event: type[Envelope[Any]], of: Any
    ) -> Callable[[Callable[..., Awaitable[None]]], Any]:
        return subscribe_batch(
            broker, topics, event, of=of, group_id=group_id, dead_letters=dead_letters
        )

    return batches_of


def partitions_of(message: StreamMessage[Any], events: Sequence[Envelope[Any]]) -> list[int]:
    """The partition each event of a batch came from (by its `x-event-id` header)."""
    by_id = {}
    for record in message.raw_message:
        for name, value in record.headers or ():
            if name == "x-event-id":
                by_id[value.decode()] = record.partition
    # Without the header (another producer), the key decides the partition just as well.
    by_key = {record.key: record.partition for record in message.raw_message}
    first = message.raw_message[0].partition
    return [by_id.get(str(event.event_id), by_key.get(event.key, first)) for event in events]


class EventPublisher:
    """Publishes events keyed by student id, so one student's events stay in order.

    Each event type gets a declared publisher, so the AsyncAPI document lists what the
    service produces, with the event's schema.
    """

    def __init__(
        self, broker: KafkaBroker, topics: Topics, events: tuple[type[Envelope[Any]], ...]
    ) -> None:
        self._publishers = {
            event: broker.publisher(topics.of(event), schema=event, title=event.__name__)
            for event in events
        }

    async def __call__(self, event: Envelope[Any]) -> None:
        await self.publish_batch([event])

    async def publish_batch(self, events: Sequence[Envelope[Any]]) -> None:
        """Publish all (see `publish_all`); raise the first failure, if any."""
        for failure in await self.publish_all(list(events)):
            if failure is not None:
                raise failure

    async def publish_all(self, events: list[Envelope[Any]]) -> list[BaseException | None]:
        """Send all, then wait for every acknowledgement: the producer batches them, and
        each partition keeps the order they were given in. Returns each send's failure."""
        pending = [
            await self._publishers[type(event)].publish(
                event,
                key=event.key,
                headers={
                    "x-event-id": str(event.event_id),
                    "x-event-type": event.type,
                    "x-event-version": str(event.version),
                },
                no_confirm=True,
            )
            for event in events
        ]
        results = await asyncio.gather(*pending, return_exceptions=True)
        return [result if isinstance(result, BaseException) else None for result in results]


async def recently_published(
    bootstrap: str, topics: list[str], depth: int, timeout: float = 30.0
) -> set[str]:
    """The event ids among the last `depth` records of each partition of `topics`.

    A relay that crashed after publishing and before recording it finds its in-doubt events
    here, at the tail, instead of publishing them a second time.
    """
    # Subscribing (without a group) is what loads the topics' partition metadata.
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()  # inside: a start that fails must still close its connections
        known = {topic: consumer.partitions_for_topic(topic) for topic in topics}
        if missing := sorted(topic for topic, parts in known.items() if not parts):
            # Right after a broker restart the metadata may not be there yet: an empty answer
            # would mean "nothing in doubt" and the relay would send everything again.
            raise ConnectionError(f"no partition metadata yet for {missing}")
        partitions = [
            TopicPartition(topic, partition)
            for topic, parts in known.items()
            for partition in sorted(parts or ())
        ]
        consumer.unsubscribe()
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for partition in partitions:
            consumer.seek(partition, max(ends[partition] - depth, 0))
        seen: set[str] = set()
        remaining = {p for p in partitions if ends[p] > 0}
        deadline = asyncio.get_running_loop().time() + timeout
        while remaining:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not read the tail of {sorted(map(str, remaining))}")
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for partition, records in batches.items():
                for record in records:
                    seen.update(v.decode() for k, v in record.headers or () if k == "x-event-id")
                if records and records[-1].offset + 1 >= ends[partition]:
                    remaining.discard(partition)
        return seen
    finally:
        await consumer.stop()


async def ensure_topics(
    bootstrap: str, names: list[str], *, partitions: int, replication_factor: int
) -> None:
    """Create the topics a service reads, with their dead-letter twins, if they do not exist.

    Consumers start from the earliest offset of a new group, and a topic that exists before the
    first subscription avoids waiting on broker auto-creation.
    """
    wanted = sorted({*names, *(Topics().dead_letter(name) for name in names)})
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="vestnik-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            # Another replica may create them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name, num_partitions=partitions, replication_factor=replication_factor
                        )
                        for name in missing
                    ]
                )
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def offsets_clients(
    bootstrap: str, client_id: str
) -> AsyncIterator[tuple[AIOKafkaAdminClient, AIOKafkaConsumer]]:
    """An admin client (a group's committed offsets) and a consumer outside any group (the
    end offsets), both closed however the block ends, a failed start included."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        yield admin, consumer
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()


async def backlog_of(bootstrap: str, topic: str, group_id: str) -> dict[int, int]:
    """The partitions of `topic` where `group_id` has not committed everything yet, each with
    its end offset now: what the group has to take in to be as current as the topic."""
    async with offsets_clients(bootstrap, "vestnik-catch-up") as (admin, consumer):
        [described] = await admin.describe_topics([topic])
        error = described.get("error_code", 0)
        if error == UnknownTopicOrPartitionError.errno:
            return {}  # nothing was ever published to it
        if error or not described.get("partitions"):
            # A broker just restarted may not know its partitions yet: an empty answer here
            # would let a caller think there is nothing to take in.
            raise KafkaError(f"no partitions of {topic} known (error {error})")
        partitions = sorted(
            TopicPartition(topic, p["partition"]) for p in described.get("partitions") or ()
        )
        ends = await consumer.end_offsets(partitions) if partitions else {}
        committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
    return {
        tp.partition: ends[tp]
        for tp in partitions
        if ends[tp] > max(committed[tp].offset if tp in committed else 0, 0)
    }


async def watch_consumer_lag(
    bootstrap: str, group_id: str, gauge: Gauge, *, interval: float = 15.0
) -> None:
    """Keep `gauge{topic,group}` at how far the group is behind: the end offset minus the
    committed offset, summed over each topic's partitions. Runs until cancelled; an outage
    only leaves the last value standing (and logs it)."""

    async def session() -> None:
        async with offsets_clients(bootstrap, "vestnik-lag") as (admin, consumer):
            while True:
                stop_if_cancelled()  # a library may have swallowed our cancellation
                committed = await admin.list_consumer_group_offsets(group_id)
                ends = await consumer.end_offsets(list(committed)) if committed else {}
                lag: dict[str, int] = {}
                for partition, offset in committed.items():
                    behind = max(ends[partition] - offset.offset, 0) if offset.offset >= 0 else 0
                    lag[partition.topic] = lag.get(partition.topic, 0) + behind
                for topic, behind in lag.items():
                    gauge.labels(topic, group_id).set(behind)
                await asyncio.sleep(interval)

    await keep_running(session, name="consumer lag", retry_seconds=interval)
