"""The filter: every state a recipient can be in, and the reason it gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from schemas import FinalMarkPosted, MarkPosted
from schemas.journal import FinalMarkPostedPayload
from schemas.notify import QuietHours
from services.consent.domain import (
    Preferences,
    Recipient,
    RecipientFile,
    notification_requests,
)
from tests.builders import CONSENTING, GRANTED, NOW, a_mark_posted


def decide(file: RecipientFile, event=None):  # type: ignore[no-untyped-def]
    event = event or MarkPosted.new(a_mark_posted(), producer="grades")
    return notification_requests(event, [file], NOW)


def reasons(file: RecipientFile, event=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, decisions = decide(file, event)
    return {d.channel: d.reason for d in decisions}


def test_a_consenting_parent_gets_a_mark_by_email_and_inbox_by_default() -> None:
    requests, decisions = decide(CONSENTING)
    assert {r.payload.channel for r in requests} == {"email", "inbox"}
    email = next(r for r in requests if r.payload.channel == "email")
    assert email.payload.address == "maria@example.org"
    assert email.payload.category == "marks"
    assert email.payload.priority == "normal" and email.payload.deadline is None
    assert email.payload.dedupe_key == f"{email.payload.source_event_id}:g-1:email"
    assert reasons(CONSENTING)["sms"] == "marks not wanted by sms"
    assert len(decisions) == 3


def test_a_final_mark_goes_on_every_channel_with_a_24_hour_deadline() -> None:
    obtained = datetime(2026, 12, 26, 11, 0, tzinfo=UTC)
    payload = FinalMarkPostedPayload(
        student_id="st-1",
        school_id="school-1",
        student_name="Иванов Иван",
        class_name="5А",
        subject_id="math",
        subject_name="Математика",
        period_id="q2",
        period_name="2 четверть",
        period_kind="quarter",
        obtained_at=obtained,
        final_mark_id="f-1",
        value="5",
    )
    requests, _ = decide(CONSENTING, FinalMarkPosted.new(payload, producer="grades"))
    assert {r.payload.channel for r in requests} == {"email", "sms", "inbox"}
    assert all(r.payload.deadline == obtained + timedelta(hours=24) for r in requests)
    assert all(r.payload.priority == "urgent" for r in requests)
    quiet = {r.payload.channel: r.payload.quiet_hours for r in requests}
    assert quiet == {"email": None, "inbox": None, "sms": QuietHours(start=time(21), end=time(8))}


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (replace(CONSENTING, consent=None), "no consent registered"),
        (replace(CONSENTING, consent=replace(GRANTED, decision="refused")), "consent refused"),
        (
            replace(CONSENTING, consent=replace(GRANTED, revoked_at=NOW - timedelta(hours=1))),
            "consent revoked on 2026-11-27",
        ),
        (
            replace(CONSENTING, consent=replace(GRANTED, valid_until=date(2026, 10, 31))),
            "consent expired",
        ),
        (
            replace(CONSENTING, preferences=Preferences(paper_only_reason="нет интернета")),
            "paper only: нет интернета",
        ),
    ],
)
def test_without_electronic_consent_nothing_is_sent_and_the_reason_is_kept(
    file: RecipientFile, reason: str
) -> None:
    requests, decisions = decide(file)
    assert requests == []
    assert {d.reason for d in decisions} == {reason}


def test_a_contact_without_provenance_is_not_used_but_the_inbox_is() -> None:
    file = replace(CONSENTING, contacts={})
    requests, _ = decide(file)
    assert [r.payload.channel for r in requests] == ["inbox"]
    assert reasons(file)["email"] == "no email contact with written or signed provenance"


def test_a_category_switched_off_is_respected() -> None:
    quiet = Preferences(channels={"marks": frozenset({"inbox"})})
    assert reasons(replace(CONSENTING, preferences=quiet))["email"] == "marks not wanted by email"


def test_a_student_is_told_under_the_consent_a_parent_gave_for_them() -> None:
    student = Recipient("st-1", "school-1", "Иванов Иван", "student", ("st-1",))
    requests, _ = decide(RecipientFile(student, GRANTED, {}, Preferences()))
    assert [r.payload.channel for r in requests] == ["inbox"]
    assert requests[0].payload.recipient_id == "st-1"
