"""The filter: every state a recipient can be in, and the reason it gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from schemas import FinalMarkPosted, MarkPosted
from schemas.notify import QuietHours
from services.consent.domain import (
    Notice,
    Preferences,
    Recipient,
    RecipientFile,
    notification_requests,
    why_not_now,
)
from tests.builders import CONSENTING, GRANTED, NOW, a_final_mark_posted, a_mark_posted


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
    payload = a_final_mark_posted(obtained)
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


def a_notice(**fields: object) -> Notice:
    defaults: dict[str, object] = {
        "recipient_id": "g-1",
        "student_ids": ("st-1",),
        "channel": "email",
        "category": "marks",
        "address": "maria@example.org",
    }
    return Notice(**{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("notice", "now_file", "reason"),
    [
        (a_notice(), CONSENTING, None),
        (a_notice(channel="inbox", address=None), CONSENTING, None),
        (
            a_notice(),
            replace(CONSENTING, consent=replace(GRANTED, revoked_at=NOW - timedelta(seconds=1))),
            f"consent revoked on {NOW.date().isoformat()}",
        ),
        (
            a_notice(),
            replace(
                CONSENTING,
                contacts={
                    "email": replace(CONSENTING.contacts["email"], address="new@example.org")
                },
            ),
            "email contact changed since the notice was made",
        ),
        (a_notice(channel="sms", address="+79161234567"), CONSENTING, "marks not wanted by sms"),
        (
            a_notice(),
            replace(CONSENTING, preferences=Preferences(paper_only_reason="нет интернета")),
            "paper only: нет интернета",
        ),
        (a_notice(recipient_id="g-2"), CONSENTING, "no longer a recipient of this student's news"),
        # A class's notice about two children: the one whose consent is gone stops it.
        (
            a_notice(student_ids=("st-1", "st-2")),
            CONSENTING,
            "no longer a recipient of this student's news",
        ),
        # A sign-in code goes where its asker typed: the account checked that.
        (a_notice(category="account", address="typed@example.org"), CONSENTING, None),
    ],
)
def test_a_notice_about_to_go_passes_the_filter_again_and_keeps_its_address(
    notice: Notice, now_file: RecipientFile, reason: str | None
) -> None:
    assert why_not_now(notice, {"st-1": [now_file]}, NOW) == reason
