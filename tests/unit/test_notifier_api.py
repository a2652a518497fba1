"""The notifier's HTTP input: dates, ids and channels that are not what they claim are 422,
in the one error shape, before anything is looked up."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.notifier.api import notifier_router
from services.shared.auth import authenticated
from tests.conftest import AUTH, TEST_SECRET


class NothingStored:
    async def search(self, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], None]:
        return [], None

    async def of_school(self, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], None]:
        return [], None

    async def messages(self, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], None]:
        return [], None


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    stored: Any = NothingStored()
    app.include_router(
        notifier_router(
            stored, stored, stored, principal=authenticated(TEST_SECRET, audience="notifier")
        )
    )
    return TestClient(app)


@pytest.mark.parametrize(
    "query",
    [
        "until=0.5",  # a number is no date (it was read as seconds since 1970)
        "since=1732950000",
        "since=yesterday",
        "until=2026-13-01",
        "student_id=" + "x" * 101,
        "recipient_id=a%20b",
        "channel=fax",
        "limit=0",
    ],
)
def test_what_is_not_a_date_an_id_or_a_channel_is_422(client: TestClient, query: str) -> None:
    response = client.get(f"/v1/schools/school-1/deliveries?{query}", headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][0] == "query"


@pytest.mark.parametrize(
    "query",
    ["since=2026-11-30T08:00:00%2B03:00", "until=2026-11-30", "since=2026-11-30T05:00:00Z"],
)
def test_iso_dates_are_taken(client: TestClient, query: str) -> None:
    response = client.get(f"/v1/schools/school-1/deliveries?{query}", headers=AUTH)
    assert response.status_code == 200, response.text
