from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.digest.domain import iso_week
from services.grades.config import Settings as GradesSettings


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
