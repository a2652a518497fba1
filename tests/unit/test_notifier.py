"""Rendering in Russian, and the delivery rules: once per key, retries, cancellation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schemas import MarkPosted
from services.consent.domain import CHANNELS, DEFAULT_CHANNELS, Preferences, notification_requests
from services.notifier.domain import (
    PermanentFailureError,
    Ports,
    RetryPolicy,
    TemporaryFailureError,
    attempt,
    message_id_for,
)
from services.notifier.rendering import (
    create_environment,
    render_email,
    render_sms,
    ru_date,
    sms_segments,
)
from services.notifier.sender import SmtpSender, SmtpServer
from tests.fakes import EventLog, FakeConsentView, FakeDeliveries, FakeZones, ScriptedSender
from tests.unit.test_consent_domain import CONSENTING
from tests.unit.test_schemas import a_mark

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def a_request(channel: str = "email", **mark_changes: object):  # type: ignore[no-untyped-def]
    event = MarkPosted.new(a_mark(**mark_changes), producer="grades")
    everything = Preferences(channels={**DEFAULT_CHANNELS, "marks": frozenset(CHANNELS)})
    file = replace(CONSENTING, preferences=everything)
    requests, _ = notification_requests(event, [file], NOW)
    return next(request for request in requests if request.payload.channel == channel)


def test_russian_dates_use_the_genitive_month() -> None:
    assert ru_date(date(2026, 11, 27)) == "27 ноября 2026 г."
    assert ru_date(date(2027, 3, 1)) == "1 марта 2027 г."


def test_the_email_names_student_subject_and_mark() -> None:
    email = render_email(create_environment(), a_request(comment="Молодец!"))
    assert email.subject == "Новая оценка: Математика — 5 (Иванов Иван)"
    assert "Здравствуйте, Иванова Мария Петровна!" in email.text
    assert "оценку «5» по предмету «Математика» за урок 27 ноября 2026 г.\n" in email.text
    assert "Комментарий учителя: Молодец!" in email.text
    assert email.text.endswith("Отвечать на него не нужно.\n")
    assert "Молодец!" in email.html


def test_html_escapes_what_the_journal_sent() -> None:
    email = render_email(create_environment(), a_request(comment="<script>alert(1)</script>"))
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html


def test_the_message_is_multipart_with_stable_headers() -> None:
    request = a_request()
    sender = SmtpSender(create_environment(), SmtpServer("-", 0, 1), sender="Дневник <n@x.ru>",
                        preferences_url="https://school.example/prefs")  # fmt: skip
    message = sender.compose(request, message_id_for(request.payload.dedupe_key))
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == message_id_for(request.payload.dedupe_key)
    assert message["To"] == "maria@example.org"
    assert message["List-Unsubscribe"] == "<https://school.example/prefs>"


def test_sms_is_compact_and_counted_in_ucs2_segments() -> None:
    text, segments = render_sms(create_environment(), a_request("sms"))
    assert text == "Иванов Иван: «5» по предмету Математика (27.11, контрольная работа)"
    assert segments == 1
    long_text, long_segments = render_sms(
        create_environment(), a_request("sms", work_type="р" * 300)
    )
    assert (len(long_text), long_segments) == (134, 2)
    assert long_text.endswith("…")
    assert (sms_segments("a" * 160), sms_segments("a" * 161), sms_segments("я" * 71)) == (1, 2, 2)


def ports_for(
    sender: ScriptedSender,
    consent: FakeConsentView | None = None,
    clock: list[datetime] | None = None,
    zones: dict[str, ZoneInfo] | None = None,
) -> tuple[Ports, FakeDeliveries, EventLog]:
    deliveries, log, times = FakeDeliveries(), EventLog(), clock or [NOW]
    policy = RetryPolicy(first_delay=timedelta(seconds=30), max_attempts=3, jitter=0)
    ports = Ports(
        deliveries=deliveries, senders={"email": sender, "sms": sender},
        consent=consent or FakeConsentView(), publish=log, policy=policy,
        now=lambda: times[0], random=lambda: 0.5, zones=FakeZones(zones or {}, MOSCOW),
    )  # fmt: skip
    return ports, deliveries, log


async def test_a_request_accepted_three_times_is_sent_once() -> None:
    sender = ScriptedSender()
    ports, deliveries, log = ports_for(sender)
    request = a_request()
    assert [await deliveries.accept(request, NOW) for _ in range(3)] == [True, False, False]
    assert await attempt(request.payload.dedupe_key, ports) == ("sent", request)
    assert await attempt(request.payload.dedupe_key, ports) == ("not due", None)
    assert len(sender.sent) == 1
    assert [event.type for event in log.published] == ["NotificationSent"]


async def test_temporary_failures_back_off_then_succeed() -> None:
    clock = [NOW]
    sender = ScriptedSender(TemporaryFailureError("451"), TemporaryFailureError("451"))
    ports, deliveries, _ = ports_for(sender, clock=clock)
    request = a_request()
    key = request.payload.dedupe_key
    await deliveries.accept(request, NOW)
    assert (await attempt(key, ports))[0] == "retry_wait"
    assert deliveries.records[key]["due"] == NOW + timedelta(seconds=30)
    assert (await attempt(key, ports))[0] == "not due"  # not before its time
    clock[0] = NOW + timedelta(seconds=30)
    assert (await attempt(key, ports))[0] == "retry_wait"
    assert deliveries.records[key]["due"] == NOW + timedelta(seconds=90)  # doubled
    clock[0] = NOW + timedelta(seconds=90)
    assert (await attempt(key, ports))[0] == "sent"
    assert len(sender.sent) == 1


async def test_it_gives_up_after_the_last_attempt_or_a_permanent_failure() -> None:
    clock = [NOW]
    sender = ScriptedSender(*[TemporaryFailureError("timeout")] * 5)
    ports, deliveries, log = ports_for(sender, clock=clock)
    request = a_request()
    await deliveries.accept(request, NOW)
    outcomes = []
    for _ in range(3):
        outcomes.append((await attempt(request.payload.dedupe_key, ports))[0])
        clock[0] += timedelta(hours=2)
    assert outcomes == ["retry_wait", "retry_wait", "failed"]
    assert log.published[-1].type == "NotificationFailed"

    permanent = ScriptedSender(PermanentFailureError("550 no such mailbox"))
    ports, deliveries, log = ports_for(permanent)
    await deliveries.accept(request, NOW)
    assert (await attempt(request.payload.dedupe_key, ports))[0] == "failed"
    assert log.published[-1].payload.reason == "550 no such mailbox"


async def test_consent_is_checked_again_right_before_sending() -> None:
    consent = FakeConsentView()
    sender = ScriptedSender()
    ports, deliveries, log = ports_for(sender, consent)
    request = a_request()
    await deliveries.accept(request, NOW)
    consent.refusals["g-1", "st-1"] = "consent revoked"
    assert (await attempt(request.payload.dedupe_key, ports))[0] == "cancelled"
    assert sender.sent == []
    assert log.published[-1].type == "NotificationCancelled"


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (10, 3600)])
def test_backoff_doubles_up_to_a_cap(attempts: int, seconds: int) -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=30), max_delay=timedelta(hours=1))
    assert policy.delay(attempts, lambda: 0.5) == timedelta(seconds=seconds)
    assert policy.delay(attempts, lambda: 1.0) == timedelta(seconds=seconds * 1.2)


async def test_an_ordinary_sms_at_23_waits_until_8_and_a_final_result_due_soon_does_not() -> None:
    late = datetime(2026, 11, 27, 23, 0, tzinfo=MOSCOW)
    clock = [late.astimezone(UTC)]
    sender = ScriptedSender()
    ports, deliveries, _ = ports_for(sender, clock=clock)
    ordinary = a_request("sms")
    urgent = ordinary.model_copy(update={"payload": ordinary.payload.model_copy(update={
        "dedupe_key": "final:g-1:sms", "deadline": clock[0] + timedelta(hours=6),
    })})  # fmt: skip
    for request in (ordinary, urgent):
        await deliveries.accept(request, clock[0])

    assert (await attempt(ordinary.payload.dedupe_key, ports))[0] == "postponed"
    morning = datetime(2026, 11, 28, 8, 0, tzinfo=MOSCOW)
    assert deliveries.records[ordinary.payload.dedupe_key]["due"] == morning
    assert deliveries.records[ordinary.payload.dedupe_key]["attempts"] == 0
    assert (await attempt(urgent.payload.dedupe_key, ports))[0] == "sent"

    clock[0] = morning.astimezone(UTC)
    assert (await attempt(ordinary.payload.dedupe_key, ports))[0] == "sent"
    assert len(sender.sent) == 2


async def test_quiet_hours_follow_the_school_s_own_time_zone() -> None:
    yekaterinburg = ZoneInfo("Asia/Yekaterinburg")
    clock = [datetime(2026, 11, 27, 17, 0, tzinfo=UTC)]  # 22:00 there, 20:00 in Moscow
    ports, deliveries, _ = ports_for(
        ScriptedSender(), clock=clock, zones={"school-1": yekaterinburg}
    )
    request = a_request("sms")
    await deliveries.accept(request, clock[0])
    assert (await attempt(request.payload.dedupe_key, ports))[0] == "postponed"
    due = deliveries.records[request.payload.dedupe_key]["due"]
    assert due == datetime(2026, 11, 28, 8, 0, tzinfo=yekaterinburg)
