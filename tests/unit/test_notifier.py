from __future__ import annotations

from datetime import UTC, date, datetime

from schemas import MarkPosted
from services.consent.domain import notification_requests
from services.notifier.domain import deliver, message_id_for
from services.notifier.rendering import create_environment, render_email, ru_date
from services.notifier.sender import SmtpMailer
from tests.fakes import FakeDeliveries, FakeMailer, StatusLog
from tests.unit.test_consent_domain import CONSENTING
from tests.unit.test_schemas import a_mark

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def a_request(**mark_changes: object):  # type: ignore[no-untyped-def]
    event = MarkPosted.new(a_mark(**mark_changes), producer="grades")
    requests, _ = notification_requests(event, [CONSENTING], NOW)
    return next(request for request in requests if request.payload.channel == "email")


def test_russian_dates_use_the_genitive_month() -> None:
    assert ru_date(date(2026, 11, 27)) == "27 ноября 2026 г."
    assert ru_date(date(2027, 3, 1)) == "1 марта 2027 г."


def test_the_email_names_student_subject_and_mark() -> None:
    email = render_email(create_environment(), a_request(comment="Молодец!"))
    assert email.subject == "Новая оценка: Математика — 5 (Иванов Иван)"
    assert "Здравствуйте, Иванова Мария Петровна!" in email.text
    assert "оценку «5» по предмету «Математика» за урок 27 ноября 2026 г.\n" in email.text
    assert email.text.endswith("Отвечать на него не нужно.\n")
    assert "Комментарий учителя: Молодец!" in email.text
    assert "Молодец!" in email.html


def test_html_escapes_what_the_journal_sent() -> None:
    email = render_email(create_environment(), a_request(comment="<script>alert(1)</script>"))
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html


def test_the_message_is_multipart_with_a_stable_message_id() -> None:
    request = a_request()
    mailer = SmtpMailer(
        create_environment(), host="-", port=0, sender="Дневник <n@x.ru>", timeout=1
    )
    message = mailer.compose(request, message_id_for(request.payload.dedupe_key))
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == message_id_for(request.payload.dedupe_key)
    assert message["To"] == "maria@example.org"


async def test_a_request_delivered_twice_is_sent_once() -> None:
    request, deliveries, mailer, status = a_request(), FakeDeliveries(), FakeMailer(), StatusLog()
    outcomes = [
        await deliver(
            request, deliveries=deliveries, mailer=mailer, publish_status=status, now=lambda: NOW
        )
        for _ in range(3)
    ]
    assert outcomes == ["sent", "duplicate", "duplicate"]
    assert len(mailer.sent) == 1
    [sent] = status.published
    assert sent.payload.dedupe_key == request.payload.dedupe_key
    assert sent.payload.sent_at == NOW
