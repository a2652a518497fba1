from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.digest.domain import iso_week
from services.grades.config import Settings as GradesSettings
from services.shared.russian import assessment_label


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (date(2026, 11, 27), "2026-W48"),
        (date(2027, 1, 1), "2026-W53"),
        (date(2026, 1, 5), "2026-W02"),
    ],
)
def test_a_day_belongs_to_its_iso_week(day: date, week: str) -> None:
    assert iso_week(day) == week


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESTNIK_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="VESTNIK_JWT_SECRET"):
        GradesSettings()
    monkeypatch.setenv("VESTNIK_JWT_SECRET", "short")
    with pytest.raises(ValidationError, match="32"):
        GradesSettings()
    monkeypatch.setenv("VESTNIK_JWT_SECRET", "a-real-secret-that-is-long-enough-0123")
    assert GradesSettings().environment == "production"


def test_service_settings_come_from_their_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESTNIK_GRADES_PORT", "9001")
    monkeypatch.setenv("VESTNIK_KAFKA_BOOTSTRAP", "kafka:9092")
    settings = GradesSettings()
    assert (settings.port, settings.kafka_bootstrap) == (9001, "kafka:9092")


@pytest.mark.parametrize("swallow", ["into its own error", "silently"])
async def test_a_loop_that_survives_errors_still_stops_when_cancelled(swallow: str) -> None:
    """A client library that swallows a cancellation must not keep a background loop (and
    with it, a shutdown) running forever."""
    import asyncio

    from services.shared.tasks import stop_if_cancelled

    async def library_call() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if swallow == "into its own error":
                raise RuntimeError("connection closed") from None

    async def loop() -> None:
        while True:
            stop_if_cancelled()
            try:
                await library_call()
            except Exception:
                stop_if_cancelled()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait_for(asyncio.wait([task]), timeout=2)
    assert task.cancelled()


def test_a_test_s_title_that_names_its_kind_is_not_told_twice() -> None:
    assert assessment_label("контрольная работа", "Дроби") == "контрольная работа «Дроби»"
    assert assessment_label("контрольная работа", "Контрольная работа «Дроби»") == (
        "Контрольная работа «Дроби»"
    )
    assert assessment_label("ВПР", None) == "ВПР"
