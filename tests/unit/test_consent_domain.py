from __future__ import annotations

from dataclasses import replace

import pytest

from schemas import MarkPosted
from services.consent.domain import ContactProvenance, Guardian, notification_requests
from tests.unit.test_schemas import a_mark

WRITTEN = ContactProvenance("written", "заявление № 7 от 01.09.2026")
CONSENTING = Guardian(
    guardian_id="g-1",
    school_id="school-1",
    name="Иванова Мария Петровна",
    student_ids=("st-1",),
    consent="granted",
    email="maria@example.org",
    email_provenance=WRITTEN,
)


def test_a_consenting_guardian_with_a_provenanced_email_is_notified() -> None:
    event = MarkPosted.new(a_mark(), producer="grades")
    [request], [decision] = notification_requests(event, [CONSENTING])
    assert decision.notify
    assert request.payload.channel == "email"
    assert request.payload.address == "maria@example.org"
    assert request.payload.content == event.payload
    assert request.payload.dedupe_key == f"{event.event_id}:g-1:email"
    assert request.correlation_id == event.correlation_id
    assert request.key == b"st-1"


def test_the_dedupe_key_is_stable_across_redeliveries() -> None:
    event = MarkPosted.new(a_mark(), producer="grades")
    first, _ = notification_requests(event, [CONSENTING])
    again, _ = notification_requests(event, [CONSENTING])
    assert first[0].payload.dedupe_key == again[0].payload.dedupe_key
    assert first[0].event_id != again[0].event_id


@pytest.mark.parametrize(
    ("guardian", "reason"),
    [
        (replace(CONSENTING, consent=None), "no consent registered"),
        (replace(CONSENTING, consent="refused"), "consent refused"),
        (replace(CONSENTING, email=None, email_provenance=None), "no e-mail address"),
        (replace(CONSENTING, email_provenance=None), "e-mail has no written or signed provenance"),
    ],
)
def test_excluded_guardians_get_nothing_and_a_reason(guardian: Guardian, reason: str) -> None:
    event = MarkPosted.new(a_mark(), producer="grades")
    requests, [decision] = notification_requests(event, [guardian])
    assert requests == []
    assert not decision.notify
    assert decision.reason == reason
