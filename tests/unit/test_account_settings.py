"""The settings page's form and the one-click unsubscribe link: pure rules."""

from __future__ import annotations

from services.account.preferences import (
    CHOICES,
    PAPER_ONLY_DEFAULT_REASON,
    FormError,
    preferences_body,
    without_email,
)
from services.shared.unsubscribe import Unsubscribe, unsubscribe_of, unsubscribe_token

CURRENT = {"marks": ["email", "inbox"], "homework": ["inbox"], "weekly_digest": ["email"]}


def test_a_ticked_box_is_a_channel_on_and_the_inbox_stays_as_it_was() -> None:
    form = {"marks.sms": "on", "homework.email": "on", "quiet_start": "22:30", "quiet_end": "07:00"}
    body = preferences_body(form, CURRENT)
    assert not isinstance(body, FormError)
    assert body["channels"]["marks"] == ["inbox", "sms"]  # e-mail unticked, inbox kept
    assert body["channels"]["homework"] == ["email", "inbox"]
    assert body["channels"]["weekly_digest"] == []
    assert set(body["channels"]) == set(CHOICES)  # never the sign-in codes (`account`)
    assert body["sms_quiet_hours"] == {"start": "22:30", "end": "07:00"}
    assert body["paper_only_reason"] is None


def test_paper_only_needs_no_reason_typed() -> None:
    form = {"paper_only": "on", "quiet_start": "21:00", "quiet_end": "08:00"}
    body = preferences_body(form, CURRENT)
    assert not isinstance(body, FormError)
    assert body["paper_only_reason"] == PAPER_ONLY_DEFAULT_REASON
    typed = preferences_body({**form, "paper_only_reason": " нет компьютера "}, CURRENT)
    assert not isinstance(typed, FormError) and typed["paper_only_reason"] == "нет компьютера"


def test_a_bad_time_names_its_field() -> None:
    error = preferences_body({"quiet_start": "21:00", "quiet_end": "25:99"}, CURRENT)
    assert isinstance(error, FormError) and error.field == "quiet_end"


def test_unsubscribing_turns_off_only_that_category_s_e_mail() -> None:
    current = {
        "channels": {"marks": ["email", "inbox", "sms"], "attendance": ["email"]},
        "paper_only_reason": None,
        "sms_quiet_hours": {"start": "21:00:00", "end": "08:00:00"},
    }
    assert without_email(current, "marks") == {
        **current,
        "channels": {"marks": ["inbox", "sms"], "attendance": ["email"]},
    }


def test_an_unsubscribe_link_says_whom_and_what_and_cannot_be_forged() -> None:
    what = Unsubscribe("school-1", "g-1", "marks")
    token = unsubscribe_token(what, "key")
    assert unsubscribe_of(token, "key") == what
    assert unsubscribe_of(token, "another key") is None
    forged = unsubscribe_token(Unsubscribe("school-1", "g-2", "marks"), "guess")
    assert unsubscribe_of(forged.split(".")[0] + "." + token.split(".")[1], "key") is None
    assert unsubscribe_of("garbage", "key") is None
    assert unsubscribe_of("", "key") is None
