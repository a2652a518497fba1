"""What consumers read: grades' `/asyncapi.json` lists every event it publishes, clause 4's
included (issue 13) and clause 7's (issue 15), each on its topic and with examples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from schemas.topics import CLAUSE_4_TOPICS, CLAUSE_7_TOPICS, EVENTS_BY_TOPIC
from services.registry import build_app

CLAUSE_4_EVENTS = [event for topic in CLAUSE_4_TOPICS for event in EVENTS_BY_TOPIC[topic]]
CLAUSE_7_EVENTS = [event for topic in CLAUSE_7_TOPICS for event in EVENTS_BY_TOPIC[topic]]


async def grades_asyncapi() -> dict[str, Any]:
    app, _ = build_app("grades")  # builds clients lazily: no server is contacted
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://grades") as client:
        response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize(
    ("events", "count"), [(CLAUSE_4_EVENTS, 18), (CLAUSE_7_EVENTS, 3)], ids=["clause 4", "clause 7"]
)
async def test_every_clause_4_and_7_event_is_on_its_topic_with_an_example(
    events: list[Any], count: int
) -> None:
    document = await grades_asyncapi()
    assert len(events) == count
    channels = {channel["address"] for channel in document["channels"].values()}
    assert channels >= {event.topic for event in events}
    messages = document["components"]["messages"]
    for event in events:
        message = messages[f"{event.__name__}:Message"]
        assert message["payload"]["$ref"].endswith(f"/{event.__name__}")
        # Whole events, as published: each parses as the event it documents.
        examples = document["components"]["schemas"][event.__name__]["examples"]
        assert examples, event.__name__
        for example in examples:
            event.model_validate(example)
