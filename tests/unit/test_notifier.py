"""Rendering in Russian, and the delivery rules: once per key, retries, cancellation."""

from __future__ import annotations

import asyncio
import email
import email.policy
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import aiosmtplib
import pytest

from schemas import MarkPosted, NotificationRequested
from services.consent.domain import CHANNELS, DEFAULT_CHANNELS, Preferences, notification_requests
from services.notifier.domain import (
    FATE_UNKNOWN,
    FallbackPolicy,
    NotHandedOverError,
    PermanentFailureError,
    RetryPolicy,
    TemporaryFailureError,
    WithdrawnError,
    message_id_for,
    readable_reason,
)
from services.notifier.handlers import CatchUp
from services.notifier.handover import AnswerTooOldError, ConsentAnswer, HandOver
from services.notifier.mime import MimeHeaderError
from services.notifier.rendering import (
    create_environment,
    render_email,
    render_sms,
    sms_segments,
)
from services.notifier.schedule import Pending, Schedule
from services.notifier.sender import SmtpSender, SmtpServer, _failure_for
from services.notifier.store import Recorded, _refusal
from services.notifier.usecases import (
    PASS_SIZE,
    Ports,
    RecordAtOnce,
    RecordBehind,
    accept_requests,
    expire_overdue,
    run_pass,
    take_over,
)
from services.shared.russian import ru_date
from services.shared.unsubscribe import Unsubscribe, unsubscribe_of
from tests.builders import CONSENTING, EMAIL, PHONE, a_mark_posted, an_email_request
from tests.fakes import (
    EventLog,
    FakeConsentView,
    FakeDeliveries,
    FakeMisses,
    FakeZones,
    ScriptedSender,
)

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def requests_by_channel(**mark_changes: object) -> dict[str, NotificationRequested]:
    """One mark, told to one parent on every channel."""
    event = MarkPosted.new(a_mark_posted(**mark_changes), producer="grades")
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
    request = a_request(comment="Молодец!")
    sender = SmtpSender(
        create_environment(),
        SmtpServer("-", 0, 1),
        sender="Электронный дневник <n@x.ru>",
        account_url="https://school.example",
        unsubscribe_key="k",
    )
    raw = sender.compose(request, message_id_for(request.payload.dedupe_key))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage) and not message.defects
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == message_id_for(request.payload.dedupe_key)
    assert message["To"] == "maria@example.org"
    assert message["From"] == "Электронный дневник <n@x.ru>"
    assert message["Subject"] == "Новая оценка: Математика — 5 (Иванов Иван)"
    # One click (RFC 8058) turns off this recipient's e-mails of this category, nothing else.
    link = message["List-Unsubscribe"]
    assert link.startswith("<https://school.example/unsubscribe/") and link.endswith(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    payload = request.payload
    assert unsubscribe_of(link[1:-1].rsplit("/", 1)[1], "k") == Unsubscribe(
        payload.content.school_id, payload.recipient_id, "marks"
    )
    assert unsubscribe_of(link[1:-1].rsplit("/", 1)[1], "another key") is None
    assert message["Date"] is not None
    rendered = render_email(create_environment(), request)
    plain, html = (message.get_body((kind,)) for kind in ("plain", "html"))
    assert plain is not None and plain.get_content() == rendered.text
    assert html is not None and html.get_content() == rendered.html
    # RFC 5322: lines should stay within 78 characters; a URL cannot be folded, so the
    # unsubscribe link's line may not (it must stay within 998).
    long_lines = [line for line in raw.split(b"\r\n") if len(line) > 78]
    assert [line.split(b":")[0] for line in long_lines] in ([], [b"List-Unsubscribe"])
    assert all(len(line) <= 998 for line in long_lines)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only


def test_a_header_value_with_a_line_break_is_refused() -> None:
    request = a_request()
    broken = request.model_copy(
        update={"payload": request.payload.model_copy(update={"address": "a@b.ru\r\nBcc: x@y.ru"})}
    )
    sender = SmtpSender(
        create_environment(),
        SmtpServer("-", 0, 1),
        sender="n@x.ru",
        account_url="https://school.example",
        unsubscribe_key="k",
    )
    with pytest.raises(MimeHeaderError):
        sender.compose(broken, "<id@x>")


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


class Harness:
    """One notifier's schedule and use cases over in-memory ports, with a clock to move."""

    def __init__(
        self,
        sender: ScriptedSender | None = None,
        *,
        consent: FakeConsentView | None = None,
        zones: dict[str, ZoneInfo] | None = None,
        fallback: FallbackPolicy | None = None,
        now: datetime = NOW,
    ) -> None:
        self.sender = sender or ScriptedSender()
        self.consent = consent or FakeConsentView()
        self.log = EventLog()
        self.deliveries, self.misses = FakeDeliveries(self.log), FakeMisses(self.log)
        self.schedule = Schedule()
        self.clock = [now]
        self.ports = Ports(
            deliveries=self.deliveries,
            senders=dict.fromkeys(("email", "sms", "inbox"), self.sender),
            consent=self.consent,
            policy=RetryPolicy(first_delay=timedelta(seconds=30), max_attempts=3, jitter=0),
            now=lambda: self.clock[0],
            random=lambda: 0.5,
            zones=FakeZones(zones or {}, MOSCOW),
            misses=self.misses,
            recorder=RecordAtOnce(self.deliveries),
            fallback=fallback or FallbackPolicy(),
        )

    async def accept(self, *requests: NotificationRequested) -> list[NotificationRequested]:
        """Returns the duplicates."""
        return await accept_requests([(r, 0) for r in requests], self.schedule, self.ports)

    async def run(self) -> dict[str, str]:
        """One scheduler pass: each attempted delivery's outcome, by channel."""
        return {
            a.request.payload.channel: a.outcome for a in await run_pass(self.schedule, self.ports)
        }

    def due(self, request: NotificationRequested) -> datetime:
        return self.deliveries.records[request.payload.dedupe_key]["due"]


def successor_of(notifier: Harness) -> Harness:
    """Another process over the same records, taking over when `notifier` has gone."""
    successor = Harness()
    successor.deliveries = notifier.deliveries
    successor.ports = replace(
        successor.ports,
        deliveries=notifier.deliveries,
        recorder=RecordAtOnce(notifier.deliveries),
    )
    return successor


async def test_a_request_accepted_three_times_is_sent_once() -> None:
    notifier = Harness()
    request = a_request()
    assert await notifier.accept(request) == []
    assert await notifier.accept(request, request) == [request, request]
    assert await notifier.run() == {"email": "sent"}
    assert await notifier.run() == {}
    assert len(notifier.sender.sent) == 1
    assert [event.type for event in notifier.log.published] == ["NotificationSent"]


async def test_temporary_failures_back_off_then_succeed() -> None:
    notifier = Harness(ScriptedSender(TemporaryFailureError("451"), TemporaryFailureError("451")))
    request = a_request()
    await notifier.accept(request)
    assert await notifier.run() == {"email": "retry_wait"}
    assert notifier.due(request) == NOW + timedelta(seconds=30)
    assert await notifier.run() == {}  # not before its time
    notifier.clock[0] = NOW + timedelta(seconds=30)
    assert await notifier.run() == {"email": "retry_wait"}
    assert notifier.due(request) == NOW + timedelta(seconds=90)  # doubled
    notifier.clock[0] = NOW + timedelta(seconds=90)
    assert await notifier.run() == {"email": "sent"}
    assert len(notifier.sender.sent) == 1
    assert notifier.deliveries.records[request.payload.dedupe_key]["attempts"] == 3


async def test_it_gives_up_after_the_last_attempt_or_a_permanent_failure() -> None:
    notifier = Harness(ScriptedSender(*[TemporaryFailureError("timeout")] * 5))
    request = a_request()
    await notifier.accept(request)
    outcomes = []
    for _ in range(3):
        outcomes.append((await notifier.run())["email"])
        notifier.clock[0] += timedelta(hours=2)
    assert outcomes == ["retry_wait", "retry_wait", "failed"]
    assert notifier.log.published[-1].type == "NotificationFailed"

    notifier = Harness(ScriptedSender(PermanentFailureError("550 no such mailbox")))
    await notifier.accept(request)
    assert await notifier.run() == {"email": "failed"}
    assert notifier.log.published[-1].payload.reason == "550 no such mailbox"


async def test_waiting_for_consent_or_the_database_at_hand_over_uses_no_attempt() -> None:
    away = NotHandedOverError("not handed over: ConsentUnavailableError")
    notifier = Harness(ScriptedSender(*[away] * 5))  # five times, where three attempts is all
    request = a_request()
    await notifier.accept(request)
    for _ in range(5):
        assert await notifier.run() == {"email": "retry_wait"}
        assert notifier.due(request) == notifier.clock[0] + timedelta(seconds=30)  # no backoff
        notifier.clock[0] += timedelta(seconds=30)
    assert await notifier.run() == {"email": "sent"}
    assert notifier.deliveries.records[request.payload.dedupe_key]["attempts"] == 1


async def test_consent_refusing_at_hand_over_cancels_the_delivery_with_its_reason() -> None:
    notifier = Harness(ScriptedSender(WithdrawnError("consent revoked on 2026-11-27")))
    request = a_request()
    await notifier.accept(request)
    assert await notifier.run() == {"email": "cancelled"}
    assert await notifier.run() == {}
    assert notifier.sender.sent == []
    [event] = notifier.log.published
    assert event.type == "NotificationCancelled"
    assert event.payload.reason == "consent revoked on 2026-11-27"


async def test_one_message_that_breaks_fails_alone_and_the_pass_goes_on() -> None:
    notifier = Harness(ScriptedSender(KeyError("template variable")))
    broken, fine = a_request(mark_id="m-1"), a_request(mark_id="m-2")
    await notifier.accept(broken, fine)
    outcomes = [a.outcome for a in await run_pass(notifier.schedule, notifier.ports)]
    assert outcomes == ["failed", "sent"]
    failed = notifier.log.published[0]
    assert (failed.type, failed.payload.reason) == (
        "NotificationFailed",
        "unexpected KeyError",
    )


async def test_a_reply_that_is_no_text_fails_its_delivery_with_a_readable_reason() -> None:
    reply = "550 нет такого ящика".encode("cp1251").decode("utf-8", "surrogateescape")
    notifier = Harness(ScriptedSender(PermanentFailureError(f"SMTP {reply}\x00")))
    broken, fine = a_request(mark_id="m-1"), a_request(mark_id="m-2")
    await notifier.accept(broken, fine)
    assert [a.outcome for a in await run_pass(notifier.schedule, notifier.ports)] == [
        "failed",
        "sent",
    ]
    reason = notifier.log.published[0].payload.reason
    assert reason == "SMTP 550"  # what was no text is left out: storable and publishable
    assert readable_reason("x" * 1000).endswith("…")
    assert readable_reason("\x00\udcff") == "no reason given"


async def test_a_sender_that_breaks_as_a_whole_leaves_its_messages_to_retry() -> None:
    class Broken(ScriptedSender):
        async def send_batch(
            self, messages: list[tuple[NotificationRequested, str]]
        ) -> list[Exception | None]:
            raise RuntimeError("a bug")

    notifier = Harness()
    notifier.ports.senders["sms"] = Broken()
    await notifier.accept(a_request("email"), a_request("sms"))
    assert await notifier.run() == {"email": "sent", "sms": "retry_wait"}


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        (
            "SMTP 550 5.1.1 <ivan@example.org>: Recipient address rejected",
            "SMTP 550 5.1.1 <[address]>: Recipient address rejected",
        ),
        ("SMTP 550 user ivan.petrov+1@mail.example.ru unknown", "SMTP 550 user [address] unknown"),
        ("SMS provider refused: 79161234567 blocked", "SMS provider refused: [address] blocked"),
        ("number +7 916 123-45-67 is on the stop list", "number [address] is on the stop list"),
        ("SMS provider refused: code 207", "SMS provider refused: code 207"),
        (
            "SMTP 452 4.5.3 Too many recipients (max 100)",
            "SMTP 452 4.5.3 Too many recipients (max 100)",
        ),
    ],
)
def test_addresses_in_a_provider_reply_are_not_kept(reply: str, kept: str) -> None:
    assert readable_reason(reply) == kept


def test_a_cp1251_smtp_reply_is_read_as_russian() -> None:
    reply = "Пользователь не найден".encode("cp1251").decode("utf-8", "surrogateescape")
    failure = _failure_for(aiosmtplib.SMTPResponseException(550, reply))
    assert str(failure) == "SMTP 550 Пользователь не найден"


async def test_consent_is_checked_again_right_before_sending() -> None:
    notifier = Harness()
    request = a_request()
    await notifier.accept(request)
    # The same ids in another school: their revocation is not this parent's.
    notifier.consent.refused["school-2", "g-1", "st-1"] = "consent revoked"
    assert await notifier.run() == {"email": "sent"}
    await notifier.accept(a_request(mark_id="m-2"))
    notifier.consent.refused["school-1", "g-1", "st-1"] = "consent revoked"
    assert await notifier.run() == {"email": "cancelled"}
    assert len(notifier.sender.sent) == 1
    assert notifier.log.published[-1].type == "NotificationCancelled"


async def test_a_pass_takes_urgent_deliveries_first_and_at_most_its_size() -> None:
    notifier = Harness()
    backlog = [a_request(mark_id=f"m-{n}") for n in range(PASS_SIZE + 10)]
    urgent = final_mark_requests()["inbox"]
    await notifier.accept(*backlog, urgent)
    first = await run_pass(notifier.schedule, notifier.ports)
    assert len(first) == PASS_SIZE
    assert first[0].request == urgent
    assert [a.request for a in first[1:]] == backlog[: PASS_SIZE - 1]  # then oldest first
    assert len(await run_pass(notifier.schedule, notifier.ports)) == 11


async def test_a_pass_takes_at_most_its_share_of_a_rate_limited_channel() -> None:
    """Issue 16: a pass of 200 SMS at 10 a second sent the last one 20 s after the consent
    check, and a revocation in between did not stop it; the e-mails due waited as long."""
    notifier = Harness()
    notifier.ports = replace(notifier.ports, per_pass={"sms": 10})
    await notifier.accept(*[a_request("sms", mark_id=f"m-{n}") for n in range(25)])
    await notifier.accept(*[a_request("email", mark_id=f"m-{n}") for n in range(25)])
    passes = [await run_pass(notifier.schedule, notifier.ports) for _ in range(4)]
    assert [Counter(a.request.payload.channel for a in p) for p in passes] == [
        {"sms": 10, "email": 25},
        {"sms": 10},
        {"sms": 5},
        {},
    ]


async def test_the_next_owner_of_a_partition_takes_its_open_deliveries_over() -> None:
    notifier = Harness(ScriptedSender(TemporaryFailureError("451")))
    sent, waiting = a_request(mark_id="m-1"), a_request(mark_id="m-2")
    await notifier.accept(sent, waiting)
    notifier.schedule.drop_partitions({0})  # the partition moved to another process …
    assert await notifier.run() == {}

    successor = successor_of(notifier)
    for pending in await successor.deliveries.open_in(0):  # … which loads what is open
        successor.schedule.add(pending)
    assert [a.outcome for a in await run_pass(successor.schedule, successor.ports)] == ["sent"] * 2


async def test_an_e_mail_being_handed_over_at_a_crash_is_not_sent_again_and_fails_as_unknown() -> (
    None
):
    """Issue 16: a notifier killed while handing an e-mail over (marked `sending` before the
    final dot, the reply not recorded). Sent again, the parent had it twice (the first
    `make chaos`); counted sent, four e-mails whose dot never went were lost (a later one)."""
    notifier = Harness()
    handed, queued = a_request(mark_id="m-1"), a_request(mark_id="m-2")
    await notifier.accept(handed, queued)
    notifier.deliveries.records[handed.payload.dedupe_key]["status"] = "sending"
    notifier.schedule.drop_partitions({0})  # the process died; another takes over

    successor = successor_of(notifier)
    for pending in await notifier.deliveries.open_in(0):
        successor.schedule.add(pending)
    outcomes = await run_pass(successor.schedule, successor.ports)

    assert {a.request.payload.dedupe_key: a.outcome for a in outcomes} == {
        handed.payload.dedupe_key: "failed",
        queued.payload.dedupe_key: "sent",
    }
    assert [request for request, _ in successor.sender.sent] == [queued]
    record = notifier.deliveries.records[handed.payload.dedupe_key]
    assert (record["status"], record["attempts"]) == ("failed", 1)
    assert record["last_error"] == FATE_UNKNOWN
    assert sorted(e.type for e in notifier.log.published) == [
        "NotificationFailed",
        "NotificationSent",
    ]


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (10, 3600)])
def test_backoff_doubles_up_to_a_cap(attempts: int, seconds: int) -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=30), max_delay=timedelta(hours=1))
    assert policy.delay(attempts, lambda: 0.5) == timedelta(seconds=seconds)
    assert policy.delay(attempts, lambda: 1.0) == timedelta(seconds=seconds * 1.2)


async def test_an_ordinary_sms_at_23_waits_until_8_and_a_final_result_due_soon_does_not() -> None:
    late = datetime(2026, 11, 27, 23, 0, tzinfo=MOSCOW)
    notifier = Harness(now=late.astimezone(UTC))
    ordinary = a_request("sms")
    urgent = ordinary.model_copy(
        update={
            "payload": ordinary.payload.model_copy(
                update={
                    "dedupe_key": "final:g-1:sms",
                    "deadline": late + timedelta(hours=6),
                    "priority": "urgent",
                }
            )
        }
    )
    await notifier.accept(ordinary, urgent)

    attempted = {
        a.request.payload.dedupe_key: a.outcome
        for a in await run_pass(notifier.schedule, notifier.ports)
    }
    assert attempted == {ordinary.payload.dedupe_key: "postponed", "final:g-1:sms": "sent"}
    morning = datetime(2026, 11, 28, 8, 0, tzinfo=MOSCOW)
    assert notifier.due(ordinary) == morning
    assert notifier.deliveries.records[ordinary.payload.dedupe_key]["attempts"] == 0
    assert notifier.schedule.next_due() == morning

    notifier.clock[0] = morning.astimezone(UTC)
    assert await notifier.run() == {"sms": "sent"}
    assert len(notifier.sender.sent) == 2


async def test_quiet_hours_follow_the_school_s_own_time_zone() -> None:
    yekaterinburg = ZoneInfo("Asia/Yekaterinburg")
    evening = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 22:00 there, 20:00 in Moscow
    notifier = Harness(zones={"school-1": yekaterinburg}, now=evening)
    request = a_request("sms")
    await notifier.accept(request)
    assert await notifier.run() == {"sms": "postponed"}
    assert notifier.due(request) == datetime(2026, 11, 28, 8, 0, tzinfo=yekaterinburg)


def final_mark_requests(
    deadline_in: timedelta = timedelta(hours=24),
) -> dict[str, NotificationRequested]:
    """E-mail, SMS and inbox requests for one result to one parent, deadline-bound."""
    return {
        channel: request.model_copy(
            update={
                "payload": request.payload.model_copy(
                    update={"deadline": NOW + deadline_in, "priority": "urgent"}
                )
            }
        )
        for channel, request in requests_by_channel().items()
    }


async def test_a_final_result_tries_email_first_and_sms_only_when_email_fails() -> None:
    notifier = Harness(ScriptedSender(PermanentFailureError("550 no such mailbox")))
    requests = final_mark_requests()
    await notifier.accept(*requests.values())
    assert notifier.due(requests["sms"]) == NOW + timedelta(hours=2)  # its turn
    assert notifier.due(requests["inbox"]) == NOW

    assert await notifier.run() == {"email": "failed", "inbox": "sent"}
    assert notifier.due(requests["sms"]) == NOW  # no need to wait any longer
    assert await notifier.run() == {"sms": "sent"}
    assert [request.payload.channel for request, _ in notifier.sender.sent] == ["inbox", "sms"]


async def test_a_final_result_whose_e_mail_was_being_handed_over_at_a_crash_goes_by_sms_now() -> (
    None
):
    notifier = Harness()
    requests = final_mark_requests()
    await notifier.accept(requests["email"], requests["sms"])
    notifier.deliveries.records[requests["email"].payload.dedupe_key]["status"] = "sending"
    notifier.schedule.drop_partitions({0})

    successor = successor_of(notifier)
    await take_over(await notifier.deliveries.open_in(0), successor.schedule, successor.ports)
    assert await successor.run() == {"email": "failed"}  # not sent again
    assert await successor.run() == {"sms": "sent"}  # and the family is told all the same
    assert [request.payload.channel for request, _ in successor.sender.sent] == ["sms"]


async def test_sms_does_not_wait_for_an_email_that_failed_while_the_sms_was_being_stored() -> None:
    notifier = Harness(ScriptedSender(PermanentFailureError("550 no such mailbox")))
    requests = final_mark_requests()
    await notifier.accept(requests["email"])
    taken = notifier.schedule.take_due(NOW, 10)  # e-mail in flight: SMS would wait its turn

    async def email_fails_meanwhile() -> None:
        for pending in taken:
            notifier.schedule.end(pending.key, "failed")

    notifier.deliveries.during_insert = email_fails_meanwhile
    await notifier.accept(requests["sms"])
    assert notifier.due(requests["sms"]) == NOW
    assert notifier.schedule.next_due() == NOW


async def test_sms_is_not_needed_when_email_got_through() -> None:
    notifier = Harness()
    await notifier.accept(*final_mark_requests().values())
    assert await notifier.run() == {"email": "sent", "inbox": "sent"}
    assert await notifier.run() == {"sms": "superseded"}
    assert "sms" not in [request.payload.channel for request, _ in notifier.sender.sent]
    cancelled = notifier.log.published[-1]
    assert cancelled.type == "NotificationCancelled"
    assert cancelled.payload.reason == "not needed: reached by email"


async def test_sms_after_a_restart_is_not_needed_when_the_record_says_email_got_through() -> None:
    notifier = Harness()
    requests = final_mark_requests()
    await notifier.accept(requests["email"])
    assert await notifier.run() == {"email": "sent"}
    restarted = Harness()  # knows nothing of the e-mail but what its record says
    restarted.deliveries.records = notifier.deliveries.records
    await restarted.accept(requests["sms"])
    assert await restarted.run() == {"sms": "superseded"}


async def test_an_sms_waiting_behind_an_e_mail_that_ended_before_a_takeover_is_due_at_once() -> (
    None
):
    """Issue 16: the process that sent the e-mail brought the SMS forward in its memory and
    died before recording it; its successor loaded the SMS still due in two hours, and the
    chaos run found it neither sent nor ended."""
    notifier = Harness()
    requests = final_mark_requests()
    await notifier.accept(requests["email"], requests["sms"])
    assert notifier.due(requests["sms"]) == NOW + timedelta(hours=2)
    email = notifier.deliveries.records[requests["email"].payload.dedupe_key]
    email.update(status="sent", open=False)  # recorded; the SMS's new due was not
    notifier.schedule.drop_partitions({0})

    successor = successor_of(notifier)
    await take_over(await notifier.deliveries.open_in(0), successor.schedule, successor.ports)

    assert notifier.due(requests["sms"]) == NOW
    assert await successor.run() == {"sms": "superseded"}
    assert successor.sender.sent == []


async def test_a_takeover_leaves_an_sms_waiting_while_the_e_mail_ahead_is_still_tried() -> None:
    notifier = Harness()
    requests = final_mark_requests()
    await notifier.accept(requests["email"], requests["sms"])
    notifier.schedule.drop_partitions({0})
    successor = successor_of(notifier)
    await take_over(await notifier.deliveries.open_in(0), successor.schedule, successor.ports)
    assert notifier.due(requests["sms"]) == NOW + timedelta(hours=2)
    assert await successor.run() == {"email": "sent"}


async def test_sms_goes_anyway_when_email_keeps_failing_past_its_turn() -> None:
    notifier = Harness(ScriptedSender(*[TemporaryFailureError("451")] * 10))
    await notifier.accept(*final_mark_requests().values())
    assert (await notifier.run())["email"] == "retry_wait"
    notifier.clock[0] = NOW + timedelta(hours=2)
    notifier.sender.failures.clear()
    assert (await notifier.run())["sms"] == "sent"


async def test_the_turn_never_comes_too_late_for_the_deadline() -> None:
    notifier = Harness()
    requests = final_mark_requests(deadline_in=timedelta(hours=2, minutes=30))
    await notifier.accept(*requests.values())
    assert notifier.due(requests["sms"]) == NOW + timedelta(hours=1, minutes=30)  # an hour before


async def test_sms_alone_or_in_parallel_mode_or_for_ordinary_news_does_not_wait() -> None:
    notifier = Harness()
    only_sms = final_mark_requests()["sms"]
    await notifier.accept(only_sms)  # this parent has no e-mail: nothing to wait for
    assert notifier.due(only_sms) == NOW

    notifier = Harness(fallback=FallbackPolicy(mode="parallel"))
    await notifier.accept(*final_mark_requests().values())
    assert {record["due"] for record in notifier.deliveries.records.values()} == {NOW}

    notifier = Harness()
    await notifier.accept(a_request("email"), a_request("sms"))
    assert {record["due"] for record in notifier.deliveries.records.values()} == {NOW}


async def test_a_missed_deadline_expires_the_channels_and_is_listed_once() -> None:
    notifier = Harness(ScriptedSender(*[TemporaryFailureError("451")] * 10))
    requests = final_mark_requests(deadline_in=timedelta(hours=3))
    await notifier.accept(requests["email"], requests["sms"])
    await notifier.run()
    notifier.clock[0] = NOW + timedelta(hours=3)
    missed = await expire_overdue(notifier.schedule, notifier.ports)
    assert [event.payload.channels_tried for event in missed] == [("email", "sms")]
    assert {r["status"] for r in notifier.deliveries.records.values()} == {"expired"}
    assert len(notifier.misses.records) == 1
    assert await expire_overdue(notifier.schedule, notifier.ports) == []
    assert len(notifier.schedule) == 0


async def test_no_miss_when_one_channel_got_through_in_time() -> None:
    notifier = Harness(ScriptedSender(TemporaryFailureError("451")))
    requests = final_mark_requests(deadline_in=timedelta(hours=3))
    await notifier.accept(*requests.values())
    assert await notifier.run() == {"email": "retry_wait", "inbox": "sent"}
    notifier.clock[0] = NOW + timedelta(hours=3)
    assert await expire_overdue(notifier.schedule, notifier.ports) == []
    assert notifier.misses.records == {}


def test_the_fallback_order_is_a_setting() -> None:
    sms_first = FallbackPolicy(order=("sms", "email"), wait=timedelta(minutes=30))
    requests = final_mark_requests()
    assert sms_first.earlier(requests["email"]) == ("sms",)
    assert sms_first.start_at(requests["email"], NOW, {"sms": "queued"}) == (
        NOW + timedelta(minutes=30)
    )
    assert sms_first.start_at(requests["email"], NOW, {"sms": "failed"}) == NOW


async def test_outcomes_recorded_behind_keep_each_delivery_s_last_state_and_survive_a_failure() -> (
    None
):
    log = EventLog()
    deliveries = FakeDeliveries(log)
    request = a_request()
    await deliveries.insert_new([Pending(request, 0, 0, NOW)], NOW)
    failing = [RuntimeError("database away")]
    real_record = deliveries.record

    async def record(outcomes: list[Recorded]) -> None:
        if failing:
            raise failing.pop()
        await real_record(outcomes)

    deliveries.record = record  # type: ignore[method-assign]
    recorder = RecordBehind(deliveries, retry_seconds=0.01)
    key = request.payload.dedupe_key
    later = NOW + timedelta(seconds=30)
    # A final result's channel failed (its event goes with it), then its deadline passed.
    failed = MarkPosted.new(a_mark_posted(), producer="a stand-in for NotificationFailed")
    await recorder.add([Recorded(key, "failed", 1, NOW, watched=True, events=(failed,))])
    await recorder.add([Recorded(key, "failed", 1, later)])
    await recorder.drain()
    assert deliveries.records[key]["status"] == "failed"
    assert deliveries.records[key]["open"] is False
    assert log.published == [failed]  # the earlier state's event is not lost


def test_an_address_a_later_change_replaced_is_not_sent_however_late_the_request() -> None:
    # Issue 16's chaos run: consent read the old address just before a contact change and
    # stamped the request just after it; the request's own date could not tell.
    changed_at = NOW + timedelta(seconds=5, microseconds=123_456)
    handed_over = replace(EMAIL, as_of=NOW - timedelta(days=30))
    file = replace(CONSENTING, contacts={"email": handed_over, "sms": PHONE})
    event = MarkPosted.new(a_mark_posted(), producer="grades")
    [request, *_] = notification_requests(event, [file], NOW)[0]
    made_late = request.model_copy(update={"recorded_at": changed_at + timedelta(seconds=1)})
    assert made_late.payload.contact_as_of == NOW - timedelta(days=30)
    change = {"at": changed_at.replace(microsecond=123_000)}  # as MongoDB gives it back
    facts = {"school-1/contact/g-1/email": change}
    assert (
        _refusal("school-1", made_late, facts) == "email contact changed after the request was made"
    )
    # Made with the new address (its date is the change's, to MongoDB's precision): sent.
    with_new = made_late.model_copy(
        update={"payload": made_late.payload.model_copy(update={"contact_as_of": changed_at})}
    )
    assert _refusal("school-1", with_new, facts) is None
    # A request from before the field existed: its own date decides, as before.
    old = made_late.model_copy(
        update={"payload": made_late.payload.model_copy(update={"contact_as_of": None})}
    )
    assert _refusal("school-1", old, facts) is None


class MarkLog:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.writes: list[list[str]] = []
        self.order: list[str] = []  # "marks" and (see ConsentNowFake) "consent", as they came

    async def mark_sending(self, keys: list[str], at: datetime) -> None:
        self.order.append("marks")
        if self.failures:
            raise self.failures.pop(0)
        self.writes.append(keys)


class ConsentNowFake:
    """Consent's answers as a test sets them: refusals by dedupe key, or an error."""

    def __init__(
        self, refusals: dict[str, str] | None = None, order: list[str] | None = None
    ) -> None:
        self.refusals_by_key = refusals or {}
        self.error: Exception | None = None
        self.asked: list[list[str]] = []
        self.order = order if order is not None else []
        self.hand_over_by = math.inf

    async def answer(self, requests: list[NotificationRequested]) -> ConsentAnswer:
        keys = [r.payload.dedupe_key for r in requests]
        self.asked.append(keys)
        self.order.append("consent")
        if self.error is not None:
            raise self.error
        refusals = {k: self.refusals_by_key[k] for k in keys if k in self.refusals_by_key}
        return ConsentAnswer(refusals, self.hand_over_by)


async def test_the_connections_marks_go_in_one_write_and_a_failed_write_hands_nothing_over() -> (
    None
):
    log = MarkLog(ConnectionError("the database is away"))
    full = HandOver(None, log, group=3, linger=60.0)  # a full group does not wait for the linger
    requests = [an_email_request(f"m-{n}") for n in range(4)]
    keys = [r.payload.dedupe_key for r in requests]

    async def three() -> list[BaseException | None]:
        return await asyncio.gather(*(full(r) for r in requests[:3]), return_exceptions=True)

    failed = await asyncio.wait_for(three(), timeout=5)
    assert [type(error) for error in failed] == [ConnectionError] * 3
    assert await asyncio.wait_for(three(), timeout=5) == [None] * 3
    alone = HandOver(None, log, group=3, linger=0.05)
    await asyncio.wait_for(alone(requests[3]), timeout=5)
    assert log.writes == [keys[:3], keys[3:]]


async def test_consent_is_asked_once_per_group_after_the_marks_and_a_refusal_is_not_sent() -> None:
    requests = [an_email_request(f"m-{n}") for n in range(3)]
    keys = [r.payload.dedupe_key for r in requests]
    log = MarkLog()
    consent = ConsentNowFake({keys[1]: "consent revoked on 2026-11-30"}, order=log.order)
    hand_over = HandOver(consent, log, group=3, linger=60.0)

    answers = await asyncio.wait_for(
        asyncio.gather(*(hand_over(r) for r in requests), return_exceptions=True), timeout=5
    )

    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], WithdrawnError) and str(answers[1]) == (
        "consent revoked on 2026-11-30"
    )
    assert consent.asked == [keys]
    # Marked before consent was asked, so that its answer is the last word before the dot.
    assert log.writes == [keys] and log.order == ["marks", "consent"]
    # Consent away: nothing is handed over.
    consent.error = ConnectionError("consent away")
    away = await asyncio.wait_for(
        asyncio.gather(*(hand_over(r) for r in requests), return_exceptions=True), timeout=5
    )
    assert [type(error) for error in away] == [ConnectionError] * 3


async def test_a_message_not_handed_over_within_consents_window_is_not_handed_over() -> None:
    """Consent answers a change only once the windows its yes opened have ended: a dot after
    the window could follow a change already made."""
    clock = [100.0]
    consent = ConsentNowFake()
    consent.hand_over_by = 104.0
    hand_over = HandOver(consent, None, group=1, monotonic=lambda: clock[0])
    request = an_email_request("m-1")

    await asyncio.wait_for(hand_over(request), timeout=5)  # 100 < 104: hand it over
    clock[0] = 104.0
    with pytest.raises(AnswerTooOldError):
        await asyncio.wait_for(hand_over(request), timeout=5)
    assert len(consent.asked) == 2  # asked again each time, never on an old answer


def backlog_of(found: dict[int, int] | Exception) -> Callable[[], Awaitable[dict[int, int]]]:
    async def backlog() -> dict[int, int]:
        if isinstance(found, Exception):
            raise found
        return found

    return backlog


async def test_sending_waits_until_the_consent_view_reached_the_end_offsets_of_its_start() -> None:
    caught_up = CatchUp(backlog_of({0: 5, 2: 3}), timeout=5)
    waiting = asyncio.create_task(caught_up.wait())
    caught_up.took_in(0, 4)  # offsets 0–4 of partition 0: all it had
    await asyncio.sleep(0.05)
    assert not waiting.done()  # partition 2 is behind
    caught_up.took_in(2, 2)
    await asyncio.wait_for(waiting, timeout=1)


async def test_offsets_not_known_yet_are_asked_for_again_not_taken_for_nothing_to_wait_for() -> (
    None
):
    answers: list[dict[int, int] | Exception] = [ConnectionError("no partitions yet"), {0: 5}]

    async def backlog() -> dict[int, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    caught_up = CatchUp(backlog, timeout=5, retry_seconds=0.01)
    waiting = asyncio.create_task(caught_up.wait())
    await asyncio.sleep(0.1)
    assert not waiting.done() and answers == []
    caught_up.took_in(0, 4)
    await asyncio.wait_for(waiting, timeout=1)


@pytest.mark.parametrize("found", [ConnectionError("Kafka away"), {0: 1}])
async def test_sending_goes_on_when_kafka_is_away_or_the_view_takes_too_long(
    found: dict[int, int] | Exception,
) -> None:
    caught_up = CatchUp(backlog_of(found), timeout=0.1)
    await asyncio.wait_for(caught_up.wait(), timeout=1)
    await asyncio.wait_for(caught_up.wait(), timeout=0.01)  # and does not wait again
