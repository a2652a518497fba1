"""The thin path through all four services, on real Kafka, FerretDB/MongoDB and SMTP.

POST a mark to grades → journal.marks.v1 → consent picks the consenting guardian →
notify.requests.v1 → the notifier renders and sends → the SMTP server holds the e-mail.
"""

from __future__ import annotations

import email
import email.policy
import json
from contextlib import AsyncExitStack
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from schemas import NotificationRequested, NotificationSent, Topics
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually, produce_raw, read_topic
from tests.mailbox import received
from tests.school import a_mark, load_grades_reference, load_guardian, post_journal
from tests.servers import Servers
from tests.services import running


async def test_a_posted_mark_reaches_the_consenting_guardian_on_every_chosen_channel_once(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        notifier = await stack.enter_async_context(
            running(
                "notifier", run_id, smtp_port=smtp_server.port, sms_url=sms_gateway, **service_env
            )
        )
        digest = await stack.enter_async_context(running("digest", run_id, **service_env))
        await load_grades_reference(grades)
        await load_guardian(
            consent,
            "g-consenting",
            "Иванова Мария Петровна",
            "st-1",
            email="maria@example.org",
            phone="+7 916 123-45-67",
            # No SMS quiet hours for this parent: the test must not depend on the hour it runs.
            preferences={
                "channels": {"marks": ["email", "sms", "inbox"]},
                "sms_quiet_hours": {"start": "00:00", "end": "00:00"},
            },
        )
        await load_guardian(
            consent,
            "g-refused",
            "Иванов Пётр Сергеевич",
            "st-1",
            decision="refused",
            email="petr@example.org",
        )
        await load_guardian(
            consent,
            "g-no-consent",
            "Иванова Анна Ильинична",
            "st-1",
            decision=None,
            email="anna@example.org",
        )
        await load_guardian(
            consent, "g-other-child", "Смирнов Олег", "st-2", email="oleg@example.org"
        )

        response = await post_journal(grades, a_mark("m-e2e", comment="Отлично!"))
        assert response.json()["summary"]["accepted"] == 1

        async def mail() -> list[EmailMessage]:
            return received(mail_dir)

        [message] = await eventually(mail)
        assert message["To"] == "maria@example.org"
        assert message["Subject"] == "Новая оценка: Математика — 5 (Иванов Иван)"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Иванов Иван (5А) получил(а) оценку «5» по предмету «Математика»" in text
        assert "Комментарий учителя: Отлично!" in text
        assert message.get_content_type() == "multipart/alternative"
        assert message.get_body(("html",)) is not None
        assert message["Date"] and message["List-Unsubscribe"]
        assert "=?utf-8?" in message.as_string(policy=email.policy.SMTP).split("Subject:")[1][:20]

        async def texts() -> list[dict[str, str]]:
            return [json.loads(path.read_text()) for path in sms_dir.glob("*.json")]

        [sms] = await eventually(texts)
        assert sms["to"] == "+79161234567"
        assert sms["msg"].startswith("Иванов Иван: «5» по предмету Математика")
        assert len(sms["msg"]) <= 2 * 67  # two UCS-2 segments at most

        parent = bearer("parent", person_id="g-consenting")
        inbox = await notifier.get(
            "/v1/schools/school-1/recipients/g-consenting/inbox", headers=parent
        )
        [entry] = inbox.json()["items"]
        assert entry["subject"] == message["Subject"]

        # The digest's weekly view took the same event.
        async def week_marks() -> list[str]:
            week = await digest.get(
                "/v1/schools/school-1/students/st-1/weeks/2026-W48", headers=AUTH
            )
            if week.status_code != 200:
                return []
            return [m["value"] for s in week.json()["subjects"] for m in s["marks"]]

        assert await eventually(week_marks) == ["5"]

        # The notifier reported the send, with the Message-ID the SMTP server saw.
        statuses = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationSent), at_least=3
        )
        sent = {
            NotificationSent.model_validate_json(status.value).payload.channel: status
            for status in statuses
        }
        assert set(sent) == {"email", "sms", "inbox"}
        email_sent = NotificationSent.model_validate_json(sent["email"].value)
        assert email_sent.payload.message_id == message["Message-ID"]
        # The provider got our client id, so it can fold a repeat after a crash.
        sms_sent = NotificationSent.model_validate_json(sent["sms"].value)
        assert sms["client_id"] == sms_sent.payload.message_id.strip("<>")

        # Kafka delivers at least once: the same request twice more still makes one e-mail.
        requests = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=3, settle=1.0
        )
        by_channel = {
            NotificationRequested.model_validate_json(r.value).payload.channel: r for r in requests
        }
        assert set(by_channel) == {"email", "sms", "inbox"}
        request = by_channel["email"]
        for _ in range(2):
            await produce_raw(
                servers.kafka_bootstrap, request.topic, request.value, key=request.key
            )

        async def duplicates_seen() -> bool:
            metrics = (await notifier.get("/metrics")).text
            labels = 'channel="email",kind="mark_posted",outcome="duplicate"'
            return f"vestnik_notifications_total{{{labels}}} 2.0" in metrics

        await eventually(duplicates_seen)
        assert len(received(mail_dir)) == 1
        metrics = (await notifier.get("/metrics")).text
        assert "vestnik_sms_segments_total 1.0" in metrics
        assert (
            'vestnik_delivery_latency_seconds_count{category="marks",channel="email"} 1.0'
            in metrics
        )
