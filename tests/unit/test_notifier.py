"""Rendering in Russian, and the delivery rules: once per key, retries, cancellation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from schemas import MarkPosted, NotificationRequested
from services.consent.domain import CHANNELS, DEFAULT_CHANNELS, Preferences, notification_requests
from services.notifier.domain import (
    FallbackPolicy,
    PermanentFailureError,
    Ports,
    RetryPolicy,
    TemporaryFailureError,
    accept,
    attempt,
    message_id_for,
)
from services.notifier.rendering import (
    create_environment,
    render_email,
    render_sms,
    sms_segments,
)
from services.notifier.sender import SmtpSender, SmtpServer
from services.shared.russian import ru_date
from tests.fakes import EventLog, FakeConsentView, FakeDeliveries, FakeZones, ScriptedSender
from tests.unit.test_consent_domain import CONSENTING
from tests.unit.test_schemas import a_mark

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def requests_by_channel(**mark_changes: object) -> dict[str, NotificationRequested]:
    """One mark, told to one parent on every channel."""
    event = MarkPosted.new(a_mark(**mark_changes), producer="grades")
    everything = Preferences(channels={**DEFAULT_CHANNELS, "marks": frozenset(CHANNELS)})
    file = replace(CONSENTING, preferences=everything)
    requests, _ = notification_requests(event, [file], NOW)
    return {request.payload.channel: request for request in requests}


def a_request(channel: str = "email", **mark_changes: object) -> NotificationRequested:
    return requests_by_channel(**mark_changes)[channel]


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
    assert [await deliveries.accept(request, NOW, start_at=NOW) for _ in range(3)] == [
        True,
        False,
        False,
    ]
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
    await deliveries.accept(request, NOW, start_at=NOW)
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
    await deliveries.accept(request, NOW, start_at=NOW)
    outcomes = []
    for _ in range(3):
        outcomes.append((await attempt(request.payload.dedupe_key, ports))[0])
        clock[0] += timedelta(hours=2)
    assert outcomes == ["retry_wait", "retry_wait", "failed"]
    assert log.published[-1].type == "NotificationFailed"

    permanent = ScriptedSender(PermanentFailureError("550 no such mailbox"))
    ports, deliveries, log = ports_for(permanent)
    await deliveries.accept(request, NOW, start_at=NOW)
    assert (await attempt(request.payload.dedupe_key, ports))[0] == "failed"
    assert log.published[-1].payload.reason == "550 no such mailbox"


async def test_consent_is_checked_again_right_before_sending() -> None:
    consent = FakeConsentView()
    sender = ScriptedSender()
    ports, deliveries, log = ports_for(sender, consent)
    request = a_request()
    await deliveries.accept(request, NOW, start_at=NOW)
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
        await deliveries.accept(request, clock[0], start_at=clock[0])

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
    await deliveries.accept(request, clock[0], start_at=clock[0])
    assert (await attempt(request.payload.dedupe_key, ports))[0] == "postponed"
    due = deliveries.records[request.payload.dedupe_key]["due"]
    assert due == datetime(2026, 11, 28, 8, 0, tzinfo=yekaterinburg)


def final_mark_requests(
    deadline_in: timedelta = timedelta(hours=24),
) -> dict[str, NotificationRequested]:
    """E-mail, SMS and inbox requests for one result to one parent, deadline-bound."""
    return {
        channel: request.model_copy(update={"payload": request.payload.model_copy(
            update={"deadline": NOW + deadline_in, "priority": "urgent"})})
        for channel, request in requests_by_channel().items()
    }  # fmt: skip


async def accept_all(requests: dict[str, NotificationRequested], ports: Ports) -> None:
    for request in requests.values():
        assert await accept(request, ports)


async def test_a_final_result_tries_email_first_and_sms_only_when_email_fails() -> None:
    sender = ScriptedSender(PermanentFailureError("550 no such mailbox"))
    ports, deliveries, _log = ports_for(sender)
    requests = final_mark_requests()
    await accept_all(requests, ports)
    sms_key = requests["sms"].payload.dedupe_key
    assert deliveries.records[sms_key]["due"] == NOW + timedelta(hours=2)  # its turn
    assert deliveries.records[requests["inbox"].payload.dedupe_key]["due"] == NOW

    assert (await attempt(sms_key, ports))[0] == "not due"
    assert (await attempt(requests["email"].payload.dedupe_key, ports))[0] == "failed"
    assert deliveries.records[sms_key]["due"] == NOW  # no need to wait any longer
    assert (await attempt(sms_key, ports))[0] == "sent"
    assert [request.payload.channel for request, _ in sender.sent] == ["sms"]


async def test_sms_is_not_needed_when_email_got_through() -> None:
    sender = ScriptedSender()
    ports, _deliveries, log = ports_for(sender)
    requests = final_mark_requests()
    await accept_all(requests, ports)
    assert (await attempt(requests["email"].payload.dedupe_key, ports))[0] == "sent"
    assert (await attempt(requests["sms"].payload.dedupe_key, ports))[0] == "superseded"
    assert [request.payload.channel for request, _ in sender.sent] == ["email"]
    cancelled = log.published[-1]
    assert cancelled.type == "NotificationCancelled"
    assert cancelled.payload.reason == "not needed: reached by email"


async def test_sms_goes_anyway_when_email_keeps_failing_past_its_turn() -> None:
    clock = [NOW]
    sender = ScriptedSender(*[TemporaryFailureError("451")] * 10)
    ports, _deliveries, _ = ports_for(sender, clock=clock)
    requests = final_mark_requests()
    await accept_all(requests, ports)
    assert (await attempt(requests["email"].payload.dedupe_key, ports))[0] == "retry_wait"
    clock[0] = NOW + timedelta(hours=2)
    sender.failures.clear()
    assert (await attempt(requests["sms"].payload.dedupe_key, ports))[0] == "sent"


async def test_the_turn_never_comes_too_late_for_the_deadline() -> None:
    ports, deliveries, _ = ports_for(ScriptedSender())
    requests = final_mark_requests(deadline_in=timedelta(hours=2, minutes=30))
    await accept_all(requests, ports)
    due = deliveries.records[requests["sms"].payload.dedupe_key]["due"]
    assert due == NOW + timedelta(hours=1, minutes=30)  # an hour before the deadline


async def test_sms_alone_or_in_parallel_mode_or_for_ordinary_news_does_not_wait() -> None:
    ports, deliveries, _ = ports_for(ScriptedSender())
    only_sms = final_mark_requests()["sms"]
    await accept(only_sms, ports)  # this parent has no e-mail: nothing to wait for
    assert deliveries.records[only_sms.payload.dedupe_key]["due"] == NOW

    ports, deliveries, _ = ports_for(ScriptedSender())
    parallel = replace(ports, fallback=FallbackPolicy(mode="parallel"))
    requests = final_mark_requests()
    await accept_all(requests, parallel)
    assert {record["due"] for record in deliveries.records.values()} == {NOW}

    ports, deliveries, _ = ports_for(ScriptedSender())
    for channel in ("email", "sms"):
        await accept(a_request(channel), ports)
    assert {record["due"] for record in deliveries.records.values()} == {NOW}


def test_the_fallback_order_is_a_setting() -> None:
    sms_first = FallbackPolicy(order=("sms", "email"), wait=timedelta(minutes=30))
    requests = final_mark_requests()
    assert sms_first.earlier(requests["email"]) == ("sms",)
    assert sms_first.start_at(requests["email"], NOW, {"sms": "queued"}) == (
        NOW + timedelta(minutes=30)
    )
    assert sms_first.start_at(requests["email"], NOW, {"sms": "failed"}) == NOW
