"""The notifier on the real broker, database and SMTP server: retries that survive a restart,
consent checked before sending, poison messages set aside."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiosmtpd.controller import Controller

from deploy.local.sinks.smtp import MaildirHandler, smtp_sink
from schemas import FinalMarkPosted, MarkPosted, NotificationRequested, NotificationSent, Topics
from schemas.consent import (
    ConsentChange,
    ConsentDecidedPayload,
    ConsentRefused,
    ConsentRevoked,
    ConsentRevokedPayload,
    ContactChanged,
    ContactChangedPayload,
)
from services.consent.domain import (
    DEFAULT_CHANNELS,
    Contact,
    Preferences,
    notification_requests,
)
from services.notifier.domain import PermanentFailureError
from services.notifier.rendering import create_environment
from services.notifier.sender import SmsRuSender, SmtpSender, SmtpServer
from tests.builders import CONSENTING, a_final_mark_posted, a_mark_posted, an_email_request
from tests.conftest import AUTH, free_port
from tests.kafka_tools import eventually, produce_event, produce_raw, read_topic
from tests.servers import Servers
from tests.services import running

MISSED_METRIC = 'vestnik_deadlines_missed_total{kind="final_mark_posted"} 1.0'
FAST_RETRIES = {"retry_first_delay_seconds": 1.0, "scheduler_poll_seconds": 0.3}


class FlakyMaildir(MaildirHandler):
    """Answers 451 (try again later) to the first `refusals` messages, then accepts."""

    def __init__(self, mail_dir: Path, refusals: int) -> None:
        super().__init__(mail_dir)
        self.refusals = refusals
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.attempts <= self.refusals:
            return "451 4.3.0 Mailbox temporarily unavailable"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def flaky_smtp(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FlakyMaildir]:
    handler = FlakyMaildir(tmp_path / "mail", refusals=request.param)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


async def publish(servers: Servers, topics: Topics, request: NotificationRequested) -> None:
    await produce_event(servers.kafka_bootstrap, topics.of(NotificationRequested), request)


@pytest.mark.parametrize("flaky_smtp", [3], indirect=True)
async def test_451_three_times_then_one_email_even_across_a_restart(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    flaky_smtp: FlakyMaildir,
) -> None:
    settings = {**service_env, **FAST_RETRIES, "smtp_port": flaky_smtp.port}  # type: ignore[attr-defined]
    request = an_email_request()
    key = request.payload.dedupe_key
    async with running("notifier", run_id, **settings) as notifier:
        await publish(servers, topics, request)

        async def waiting_to_retry() -> bool:
            found = (
                await notifier.get(
                    "/v1/schools/school-1/deliveries?status=retry_wait", headers=AUTH
                )
            ).json()["items"]
            return any(delivery["_id"] == key for delivery in found)

        await eventually(waiting_to_retry)
    # The notifier is gone while the retry is waiting; the schedule is in the database.
    assert flaky_smtp.attempts == 1
    async with running("notifier", run_id, **settings) as notifier:

        async def sent() -> list[dict[str, Any]]:
            return (
                await notifier.get("/v1/schools/school-1/deliveries?status=sent", headers=AUTH)
            ).json()["items"]

        [delivery] = await eventually(sent, timeout=60)
    assert delivery["attempts"] == 4
    assert flaky_smtp.attempts == 4
    assert len(list(flaky_smtp.mail_dir.glob("*.eml"))) == 1


def revoked_consent() -> ConsentChange:
    return ConsentRevoked.new(
        ConsentRevokedPayload(
            recipient_id="g-1",
            school_id="school-1",
            consent_id="c-1",
            student_id="st-1",
            effective_at=datetime.now(UTC),
        ),
        producer="test",
    )


def refused_consent() -> ConsentChange:
    """A refusal registered after the consent the request was made under."""
    return ConsentRefused.new(
        ConsentDecidedPayload(
            recipient_id="g-1",
            school_id="school-1",
            consent_id="c-2",
            student_id="st-1",
            decision="refused",
            effective_at=datetime.now(UTC),
        ),
        producer="test",
    )


def changed_email() -> ConsentChange:
    return ContactChanged.new(
        ContactChangedPayload(
            recipient_id="g-1",
            school_id="school-1",
            channel="email",
            effective_at=datetime.now(UTC),
        ),
        producer="test",
    )


@pytest.mark.parametrize("flaky_smtp", [1], indirect=True)
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (revoked_consent, "consent revoked"),
        (refused_consent, "consent refused"),
        (changed_email, "email contact changed after the request was made"),
    ],
)
async def test_a_consent_revoked_or_contact_changed_while_queued_cancels_the_send(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    flaky_smtp: FlakyMaildir,
    change: Callable[[], ConsentChange],
    reason: str,
) -> None:
    settings = {
        **service_env,
        "retry_first_delay_seconds": 3.0,
        "scheduler_poll_seconds": 0.3,
        "smtp_port": flaky_smtp.port,
    }  # type: ignore[attr-defined]
    request = an_email_request()
    async with running("notifier", run_id, **settings) as notifier:
        await publish(servers, topics, request)

        async def refused_once() -> bool:
            return flaky_smtp.attempts == 1

        await eventually(refused_once)
        event = change()
        await produce_raw(
            servers.kafka_bootstrap,
            topics.of(ConsentRevoked),
            event.model_dump_json().encode(),
            key=event.key,
        )

        async def cancelled() -> list[dict[str, Any]]:
            return (
                await notifier.get("/v1/schools/school-1/deliveries?status=cancelled", headers=AUTH)
            ).json()["items"]

        [delivery] = await eventually(cancelled, timeout=30)
        # Published by the outbox's relay, right after the record.
        statuses = await read_topic(
            servers.kafka_bootstrap, f"{run_id}.notify.status.v1", at_least=1
        )
    assert delivery["last_error"] == reason
    assert flaky_smtp.attempts == 1
    assert list(flaky_smtp.mail_dir.glob("*.eml")) == []
    assert [dict(s.headers)["x-event-type"] for s in statuses] == [b"NotificationCancelled"]


@pytest.mark.parametrize("flaky_smtp", [0], indirect=True)
async def test_a_garbage_request_is_dead_lettered_and_the_next_one_delivered(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    flaky_smtp: FlakyMaildir,
) -> None:
    settings = {**service_env, "smtp_port": flaky_smtp.port}  # type: ignore[attr-defined]
    topic = topics.of(NotificationRequested)
    async with running("notifier", run_id, **settings):
        await produce_raw(servers.kafka_bootstrap, topic, b"{not json", key=b"st-1")
        await publish(servers, topics, an_email_request())

        async def delivered() -> list[Path]:
            return list(flaky_smtp.mail_dir.glob("*.eml"))

        assert len(await eventually(delivered)) == 1
    [dead] = await read_topic(servers.kafka_bootstrap, topics.dead_letter(topic), at_least=1)
    assert dead.value == b"{not json"


def final_mark_requests(deadline_in: timedelta) -> list[NotificationRequested]:
    obtained = datetime.now(UTC) - timedelta(hours=24) + deadline_in
    final = FinalMarkPosted.new(
        a_final_mark_posted(obtained),
        producer="test",
    )
    only_email_and_sms = Preferences(
        channels={**DEFAULT_CHANNELS, "final_results": frozenset({"email", "sms"})}
    )
    reachable = replace(CONSENTING, preferences=only_email_and_sms)
    unreachable = replace(
        reachable,
        recipient=replace(CONSENTING.recipient, recipient_id="g-2", name="Иванов Пётр"),
        contacts={**CONSENTING.contacts, "sms": Contact("sms", "+79990000000", "written")},
    )
    requests, _ = notification_requests(final, [reachable, unreachable], datetime.now(UTC))
    return requests


class RefusingMaildir(MaildirHandler):
    """A mailbox that does not exist: 550, a permanent failure."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "550 5.1.1 No such mailbox"


async def test_a_final_mark_reaches_parents_by_sms_when_email_fails_and_misses_are_listed(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    tmp_path: Path,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    refusing = Controller(
        RefusingMaildir(tmp_path / "mail"), hostname="127.0.0.1", port=free_port()
    )
    refusing.start()
    settings = {**service_env, **FAST_RETRIES, "smtp_port": refusing.port, "sms_url": sms_gateway}
    try:
        async with running("notifier", run_id, **settings) as notifier:
            # Made once the notifier is up: the deadline is 4 seconds away.
            for request in final_mark_requests(deadline_in=timedelta(seconds=4)):
                if request.payload.recipient_id == "g-2" and request.payload.channel == "sms":
                    # This parent's number is one the provider cannot serve.
                    request = request.model_copy(
                        update={
                            "payload": request.payload.model_copy(update={"address": "unreachable"})
                        }
                    )
                await publish(servers, topics, request)

            async def missed() -> list[dict[str, Any]]:
                response = await notifier.get("/v1/schools/school-1/deadline-misses", headers=AUTH)
                return response.json()["items"]  # type: ignore[no-any-return]

            [miss] = await eventually(missed, timeout=60)

            async def counted() -> str | None:
                # The miss is stored first, then published and counted: a moment apart.
                text = (await notifier.get("/metrics")).text
                return text if MISSED_METRIC in text else None

            metrics = await eventually(counted, timeout=10)
    finally:
        refusing.stop()

    assert miss["recipient_id"] == "g-2"
    assert miss["channels_tried"] == ["email", "sms"]
    [sms] = [json.loads(path.read_text()) for path in sms_dir.glob("*.json")]
    assert sms["to"] == "+79161234567"  # g-1 was told by SMS in time
    assert sms["msg"].startswith("Иванов Иван: итоговая за 2 четверть")
    assert MISSED_METRIC in metrics
    statuses = await read_topic(servers.kafka_bootstrap, f"{run_id}.notify.status.v1", at_least=1)
    types = [dict(status.headers)["x-event-type"] for status in statuses]
    assert types.count(b"DeadlineMissed") == 1


async def test_an_sms_at_23_waits_for_8_unless_a_final_result_would_miss_its_deadline(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    moscow = ZoneInfo("Europe/Moscow")
    clock = [datetime(2026, 11, 27, 23, 0, tzinfo=moscow)]
    by_sms = Preferences(
        channels={
            **DEFAULT_CHANNELS,
            "marks": frozenset({"sms"}),
            "final_results": frozenset({"sms"}),
        }
    )
    file = replace(CONSENTING, preferences=by_sms)
    mark = MarkPosted.new(a_mark_posted(school_id="school-1"), producer="test")
    final = FinalMarkPosted.new(
        a_final_mark_posted(clock[0] - timedelta(hours=18), value="4"),  # due in 6 hours
        producer="test",
    )
    [ordinary], _ = notification_requests(mark, [file], clock[0])
    [urgent], _ = notification_requests(final, [file], clock[0])
    settings = {**service_env, "sms_url": sms_gateway, "scheduler_poll_seconds": 0.2}

    def texts() -> list[str]:
        return sorted(json.loads(path.read_text())["msg"] for path in sms_dir.glob("*.json"))

    async with running("notifier", run_id, {"clock": lambda: clock[0]}, **settings) as notifier:
        for request in (ordinary, urgent):
            await publish(servers, topics, request)

        async def held() -> list[dict[str, Any]]:
            return (
                await notifier.get(
                    "/v1/schools/school-1/deliveries?status=retry_wait", headers=AUTH
                )
            ).json()["items"]

        [waiting] = await eventually(held)

        async def sent_texts() -> list[str]:
            return texts()

        assert await eventually(sent_texts) == [
            "Иванов Иван: итоговая за 2 четверть по предмету Математика — «4»"
        ]
        assert waiting["_id"] == ordinary.payload.dedupe_key
        assert datetime.fromisoformat(waiting["next_attempt_at"]).astimezone(moscow).hour == 8

        clock[0] = datetime(2026, 11, 28, 8, 0, tzinfo=moscow)

        async def both() -> list[str]:
            return texts() if len(texts()) == 2 else []

        assert len(await eventually(both)) == 2


class RefusingSome(MaildirHandler):
    """Accepts mail, except for the addresses it is told do not exist (550)."""

    def __init__(self, mail_dir: Path, unknown: set[str]) -> None:
        super().__init__(mail_dir)
        self.unknown = unknown

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_sequential_fallback_sends_sms_only_to_the_parent_email_could_not_reach(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    tmp_path: Path,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    """A day before the deadline: SMS waits its turn (two hours by default) behind e-mail, and
    goes at once when e-mail fails for good; where e-mail got through, SMS is not needed."""
    handler = RefusingSome(tmp_path / "mail", unknown={"petr@example.org"})
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = {**service_env, **FAST_RETRIES, "smtp_port": smtp.port, "sms_url": sms_gateway}
    requests = final_mark_requests(deadline_in=timedelta(hours=23))
    for index, request in enumerate(requests):
        # No quiet hours: with 23 hours left, an SMS at night would rightly wait for morning,
        # and the test must not depend on the hour it runs.
        update: dict[str, Any] = {"quiet_hours": None}
        if request.payload.recipient_id == "g-2" and request.payload.channel == "email":
            update["address"] = "petr@example.org"
        requests[index] = request.model_copy(
            update={"payload": request.payload.model_copy(update=update)}
        )
    try:
        async with running("notifier", run_id, **settings) as notifier:
            for request in requests:
                await publish(servers, topics, request)

            async def ended() -> list[dict[str, Any]]:
                found = (
                    await notifier.get("/v1/schools/school-1/deliveries", headers=AUTH)
                ).json()["items"]
                finished = [d for d in found if d["status"] in ("sent", "failed", "cancelled")]
                return found if len(finished) == len(requests) else []

            deliveries = await eventually(ended, timeout=30)
    finally:
        smtp.stop()
    outcome = {
        (d["recipient_id"], d["channel"]): (d["status"], d.get("last_error")) for d in deliveries
    }
    assert outcome == {
        ("g-1", "email"): ("sent", None),
        ("g-1", "sms"): ("cancelled", "not needed: reached by email"),
        ("g-2", "email"): ("failed", "SMTP 550 5.1.1 No such mailbox"),
        ("g-2", "sms"): ("sent", None),
    }
    [sms] = [json.loads(path.read_text()) for path in sms_dir.glob("*.json")]
    assert sms["to"] == "+79990000000"  # g-2, told by SMS within seconds, not hours
    assert len(list(handler.mail_dir.glob("*.eml"))) == 1


async def test_e_mails_reuse_one_connection_and_reconnect_after_the_relay_restarts(
    mail_dir: Path,
) -> None:
    port = free_port()
    relay = smtp_sink(mail_dir, "127.0.0.1", port)
    relay.start()
    sender = SmtpSender(
        create_environment(),
        SmtpServer(host="127.0.0.1", port=port, timeout=5, concurrency=1),
        sender="noreply@vestnik.local",
        account_url="https://vestnik.local",
        unsubscribe_key="k",
    )
    request = an_email_request()
    try:
        for number in range(5):
            await sender.send(request, f"<{number}@vestnik.local>")
        assert sender.connections_opened == 1

        relay.stop()  # drops the idle connection
        relay = smtp_sink(mail_dir, "127.0.0.1", port)
        relay.start()
        await sender.send(request, "<5@vestnik.local>")
        await sender.close()
    finally:
        relay.stop()
    assert sender.connections_opened == 2
    assert len(list(mail_dir.glob("*.eml"))) == 6


@pytest.mark.parametrize(
    ("address", "failure", "code"),
    [
        ("+79161234567", None, None),
        ("+70001234567", PermanentFailureError, "207"),  # on the provider's stop list
        ("unreachable", PermanentFailureError, "202"),  # not a number
    ],
)
async def test_an_sms_counts_as_sent_only_when_its_own_number_was_accepted(
    sms_gateway: str, sms_dir: Path, address: str, failure: type[Exception] | None, code: str | None
) -> None:
    """SMS.ru answers "OK" for the request and puts each number's status inside: a refused
    number is a failure of that message, with the provider's code, not a sent one."""
    [request] = [r for r in final_mark_requests(timedelta(hours=1)) if r.payload.channel == "sms"][
        :1
    ]
    request = request.model_copy(
        update={"payload": request.payload.model_copy(update={"address": address})}
    )
    sent: list[int] = []
    async with httpx.AsyncClient(base_url=sms_gateway, timeout=10) as client:
        sender = SmsRuSender(
            create_environment(), client, api_id="test", per_second=100, on_sent=sent.append
        )
        if failure is None:
            await sender.send(request, "<m-1@vestnik.local>")
        else:
            with pytest.raises(failure, match=f"code {code}"):
                await sender.send(request, "<m-1@vestnik.local>")

    kept = [json.loads(path.read_text()) for path in sms_dir.glob("*.json")]
    assert [sms["to"] for sms in kept] == ([address] if failure is None else [])
    assert len(sent) == (1 if failure is None else 0)  # segments counted only when sent


class AnsweringInCp1251(MaildirHandler):
    """A Russian relay of the old school: refuses one mailbox with a reply in Windows-1251,
    which is not UTF-8, and names the address in it."""

    def __init__(self, mail_dir: Path, unknown: str) -> None:
        super().__init__(mail_dir)
        self.unknown = unknown

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str | bytes:
        if address == self.unknown:
            return f"550 5.1.1 <{address}>: Пользователь не найден".encode("cp1251")
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_reply_that_cannot_be_stored_fails_its_delivery_alone_and_sending_goes_on(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str, tmp_path: Path
) -> None:
    """One refused mailbox among good ones, with a reply no database can store as it came: the
    good ones are sent and recorded, the bad one is failed with a readable reason, and a
    request that comes after it is sent too."""
    handler = AnsweringInCp1251(tmp_path / "mail", unknown="ivan@example.org")
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = {**service_env, **FAST_RETRIES, "smtp_port": smtp.port}
    poisoned = an_email_request("m-2", address="ivan@example.org")
    try:
        async with running("notifier", run_id, **settings) as notifier:
            for request in (an_email_request("m-1"), poisoned, an_email_request("m-3")):
                await publish(servers, topics, request)

            async def ended(count: int) -> list[dict[str, Any]]:
                found = (
                    await notifier.get("/v1/schools/school-1/deliveries", headers=AUTH)
                ).json()["items"]
                done = [d for d in found if d["status"] in ("sent", "failed")]
                return found if len(done) == count else []

            await eventually(lambda: ended(3), timeout=30)
            await publish(servers, topics, an_email_request("m-4"))
            deliveries = await eventually(lambda: ended(4), timeout=30)
    finally:
        smtp.stop()
    by_key = {d["_id"]: d for d in deliveries}
    failed = by_key.pop(poisoned.payload.dedupe_key)
    assert {d["status"] for d in by_key.values()} == {"sent"}
    assert failed["status"] == "failed"
    assert failed["last_error"].startswith("SMTP 550 5.1.1")
    assert "Пользователь не найден" in failed["last_error"]
    assert "ivan@example.org" not in failed["last_error"]
    assert len(list(handler.mail_dir.glob("*.eml"))) == 3


class RefusingUntilTold(MaildirHandler):
    """Answers 451 (try again later) until `accepting` is set."""

    accepting = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.accepting:
            return "451 4.3.0 Mailbox temporarily unavailable"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.stops_kafka
async def test_a_kafka_outage_stops_neither_sending_nor_a_restart_and_loses_no_status_event(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str, tmp_path: Path
) -> None:
    """Deliveries waiting to retry go out while Kafka is away; the notifier stays alive (and
    ready: it needs only MongoDB to send and to answer), restarts without Kafka, and the
    status events of what it sent meanwhile are published once Kafka is back."""
    kafka = servers.kafka_process
    if kafka is None:
        pytest.skip("needs a broker this session may stop and start (the local stack)")
    handler = RefusingUntilTold(tmp_path / "mail")
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = {**service_env, **FAST_RETRIES, "smtp_port": smtp.port, "outbox_poll_seconds": 0.5}
    requests = [an_email_request(f"m-{n}") for n in range(3)]
    kafka_down = False
    try:
        # A shutdown that waits for Kafka would hang here: the timeout says so instead.
        async with asyncio.timeout(120), running("notifier", run_id, **settings) as notifier:
            for request in requests:
                await publish(servers, topics, request)

            async def with_status(status: str) -> list[dict[str, Any]]:
                found = (
                    await notifier.get(
                        f"/v1/schools/school-1/deliveries?status={status}", headers=AUTH
                    )
                ).json()["items"]
                return found if len(found) == len(requests) else []

            await eventually(lambda: with_status("retry_wait"))
            await asyncio.to_thread(kafka.down)
            kafka_down = True
            handler.accepting = True
            await eventually(lambda: with_status("sent"), timeout=60)
            live, ready = await notifier.get("/healthz/live"), await notifier.get("/healthz/ready")
            assert live.status_code == 200
            assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
            shutting_down = asyncio.get_running_loop().time()
        assert asyncio.get_running_loop().time() - shutting_down < 30
        assert len(list(handler.mail_dir.glob("*.eml"))) == len(requests)

        # Started again while Kafka is still away: it comes up, and publishes when Kafka does.
        async with running("notifier", run_id, **settings) as notifier:
            assert (await notifier.get("/healthz/live")).status_code == 200
            await asyncio.to_thread(kafka.up)
            kafka_down = False
            records = await read_topic(
                servers.kafka_bootstrap, topics.of(NotificationSent), at_least=3, timeout=90
            )
    finally:
        smtp.stop()
        if kafka_down:
            await asyncio.to_thread(kafka.up)
    sent = [NotificationSent.model_validate_json(record.value) for record in records]
    assert sorted(event.payload.dedupe_key for event in sent) == sorted(
        request.payload.dedupe_key for request in requests
    )
