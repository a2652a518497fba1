"""A poison message goes to the dead-letter topic and the consumer keeps going."""

from __future__ import annotations

from schemas import MarkPosted, Topics
from tests.builders import a_mark_posted
from tests.conftest import AUTH
from tests.kafka_tools import eventually, produce_raw, read_topic
from tests.servers import Servers
from tests.services import running


async def test_garbage_is_dead_lettered_and_the_next_event_is_processed(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    topic = topics.of(MarkPosted)
    valid = MarkPosted.new(a_mark_posted(mark_id="m-after-garbage", value="4"), producer="test")
    async with running("digest", run_id, **service_env) as digest:
        await produce_raw(servers.kafka_bootstrap, topic, b"\xff not json", key=b"st-1")
        await produce_raw(servers.kafka_bootstrap, topic, b'{"type": "MarkPosted"}', key=b"st-1")
        await produce_raw(
            servers.kafka_bootstrap, topic, valid.model_dump_json().encode(), key=b"st-1"
        )

        async def week_has_the_valid_mark() -> list[str]:
            response = await digest.get(
                "/v1/schools/school-1/students/st-1/weeks/2026-W48", headers=AUTH
            )
            if response.status_code != 200:
                return []
            return [m["value"] for s in response.json()["subjects"] for m in s["marks"]]

        assert await eventually(week_has_the_valid_mark) == ["4"]

    dead = await read_topic(servers.kafka_bootstrap, topics.dead_letter(topic), at_least=2)
    assert [record.value for record in dead] == [b"\xff not json", b'{"type": "MarkPosted"}']
    headers = dict(dead[1].headers)
    assert headers["x-original-topic"] == topic.encode()
    assert b"payload: Field required" in headers["x-error"]
