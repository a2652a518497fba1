"""The grades service on the real broker and database: accepted marks become events, once."""

from __future__ import annotations

from pymongo import AsyncMongoClient

from schemas import MarkPosted, Topics
from tests.conftest import AUTH
from tests.kafka_tools import read_topic
from tests.school import a_mark, load_grades_reference
from tests.servers import Servers
from tests.services import running


async def test_a_posted_mark_is_published_once_even_when_resent(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        first = await grades.post("/v1/marks", json=a_mark("m-1"), headers=AUTH)
        again = await grades.post("/v1/marks", json=a_mark("m-1"), headers=AUTH)
        assert (first.status_code, first.json()) == (202, {"status": "accepted"})
        assert (again.status_code, again.json()) == (202, {"status": "duplicate"})

        records = await read_topic(
            servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1, settle=2.0
        )
    assert len(records) == 1
    event = MarkPosted.model_validate_json(records[0].value)
    assert records[0].key == b"st-1"
    assert event.payload.mark_id == "m-1"
    assert event.payload.subject_name == "Математика"
    assert event.payload.student_name == "Иванов Иван"

    # The outbox entry left the stored mark once it was published (read back from the store).
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongo_url)
    try:
        stored = await client[f"{run_id}_grades"]["marks"].find_one({"_id": "school-1/m-1"})
    finally:
        await client.close()
    assert stored is not None
    assert stored["pending_events"] == []


async def test_bad_input_is_refused_with_the_field_named(
    service_env: dict[str, object], run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        unknown = await grades.post(
            "/v1/marks", json=a_mark("m-2", student_id="ghost"), headers=AUTH
        )
        bad_value = await grades.post("/v1/marks", json=a_mark("m-3", value="6"), headers=AUTH)
        conflict_first = await grades.post("/v1/marks", json=a_mark("m-4"), headers=AUTH)
        conflict = await grades.post("/v1/marks", json=a_mark("m-4", value="3"), headers=AUTH)
        no_token = await grades.post("/v1/marks", json=a_mark("m-5"))
        wrong_token = await grades.post(
            "/v1/marks", json=a_mark("m-5"), headers={"Authorization": "Bearer guess"}
        )

    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "student_id"]
    assert bad_value.status_code == 422
    assert bad_value.json()["detail"][0]["loc"] == ["body", "value"]
    assert conflict_first.status_code == 202
    assert conflict.status_code == 409
    assert no_token.status_code == 401
    assert wrong_token.status_code == 401


async def test_health_and_metrics_are_served(service_env: dict[str, object], run_id: str) -> None:
    async with running("grades", run_id, **service_env) as grades:
        health = await grades.get("/healthz")
        metrics = await grades.get("/metrics")
        openapi = await grades.get("/openapi.json")
    assert health.json() == {"status": "ok", "checks": {"mongo": "ok", "kafka": "ok"}}
    assert metrics.status_code == 200
    assert "text/plain" in metrics.headers["content-type"]
    assert "/v1/marks" in openapi.json()["paths"]


async def test_the_asyncapi_document_lists_what_each_service_consumes_and_produces(
    service_env: dict[str, object], run_id: str
) -> None:
    async with running("consent", run_id, **service_env) as consent:
        document = (await consent.get("/asyncapi.json")).json()
    channels = {channel["address"] for channel in document["channels"].values()}
    assert channels == {f"{run_id}.journal.marks.v1", f"{run_id}.notify.requests.v1"}
    assert "MarkPosted" in document["components"]["schemas"]
    assert "NotificationRequested" in document["components"]["schemas"]
