"""Reading and writing the real broker from tests, outside any service."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, TopicPartition


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int, timeout: float = 30.0, settle: float = 0.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the topic from the beginning, once `at_least` arrived (or the timeout).

    `settle` keeps reading that much longer, so a test can see that nothing *more* arrives.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(record for part in batch.values() for record in part)
        settle_until = time.monotonic() + settle
        while time.monotonic() < settle_until:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(record for part in batch.values() for record in part)
    finally:
        await consumer.stop()
    return records


async def produce_event(bootstrap: str, topic: str, event: Any) -> None:
    """An event as its producer would send it: JSON, keyed."""
    await produce_raw(bootstrap, topic, event.model_dump_json().encode(), key=event.key)


async def produce_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def eventually(check: Any, *, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async check until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    result = await check()
    while not result and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        result = await check()
    assert result, f"condition not met within {timeout}s (last: {result!r})"
    return result


async def produce_events(bootstrap: str, events: list[Any], prefix: str) -> None:
    """Events as a service would publish them (key, headers), all at once, on `prefix`ed
    topics."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                f"{prefix}{event.topic}",
                event.model_dump_json().encode(),
                key=event.key,
                headers=[
                    ("x-event-id", str(event.event_id).encode()),
                    ("x-event-type", event.type.encode()),
                ],
            )
            for event in events
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def caught_up(bootstrap: str, group_id: str, at_least: dict[str, int]) -> bool:
    """True once every topic in `at_least` holds that many records and consumer group
    `group_id` has committed all of them: the service has taken them in."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        # From the broker itself: the consumer's own metadata knows no topic it did not read.
        partitions = [
            TopicPartition(described["topic"], partition["partition"])
            for described in await admin.describe_topics(list(at_least))
            for partition in described.get("partitions") or ()
        ]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
    finally:
        await consumer.stop()
        await admin.close()
    for topic, wanted in at_least.items():
        if sum(end for partition, end in ends.items() if partition.topic == topic) < wanted:
            return False
    # An empty partition has nothing to take in (and the group commits nothing there).
    return all(
        end == 0 or (partition in committed and committed[partition].offset >= end)
        for partition, end in ends.items()
    )
