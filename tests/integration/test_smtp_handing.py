"""Issue 16: the SMTP sender asks consent and records a message as handed over after its body
and before the final dot, on a real SMTP server (aiosmtpd): the record exists whenever the
relay may have the message, and without the record, or with consent refusing, the relay never
gets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from schemas import NotificationRequested
from services.notifier.domain import TemporaryFailureError, WithdrawnError
from services.notifier.rendering import create_environment
from services.notifier.sender import Handing, SmtpSender, SmtpServer
from tests.builders import an_email_request


def a_sender(port: int, handing: Handing) -> SmtpSender:
    return SmtpSender(
        create_environment(),
        SmtpServer(host="127.0.0.1", port=port, timeout=5, concurrency=1),
        sender="noreply@vestnik.local",
        account_url="https://vestnik.local",
        unsubscribe_key="k",
        handing=handing,
    )


def kept(mail_dir: Path) -> int:
    return len(list(mail_dir.glob("*.eml")))


async def test_each_message_is_recorded_before_the_relay_takes_it(
    smtp_server: Controller, mail_dir: Path
) -> None:
    seen: list[tuple[str, int]] = []  # each key handed over, and what the relay had by then

    async def handing(request: NotificationRequested) -> None:
        seen.append((request.payload.dedupe_key, kept(mail_dir)))

    sender = a_sender(smtp_server.port, handing)
    requests = [an_email_request(f"m-{n}") for n in range(3)]
    try:
        for n, request in enumerate(requests):
            await sender.send(request, f"<{n}@vestnik.local>")
    finally:
        await sender.close()

    assert seen == [(request.payload.dedupe_key, n) for n, request in enumerate(requests)]
    assert kept(mail_dir) == 3


async def test_a_message_whose_record_failed_never_reaches_the_relay(
    smtp_server: Controller, mail_dir: Path
) -> None:
    calls: list[str] = []

    async def handing(request: NotificationRequested) -> None:
        calls.append(request.payload.dedupe_key)
        if len(calls) == 1:
            raise ConnectionError("the database is away")

    sender = a_sender(smtp_server.port, handing)
    try:
        with pytest.raises(TemporaryFailureError, match="not handed over: ConnectionError"):
            await sender.send(an_email_request("m-1"), "<1@vestnik.local>")
        assert kept(mail_dir) == 0
        await sender.send(
            an_email_request("m-1"), "<1@vestnik.local>"
        )  # the retry, on a new connection
    finally:
        await sender.close()
    assert kept(mail_dir) == 1
    assert sender.connections_opened == 2


async def test_a_message_consent_refuses_at_the_last_moment_never_reaches_the_relay(
    smtp_server: Controller, mail_dir: Path
) -> None:
    revoked = an_email_request("m-revoked")

    async def handing(request: NotificationRequested) -> None:
        if request.payload.dedupe_key == revoked.payload.dedupe_key:
            raise WithdrawnError("consent revoked on 2026-11-30")

    sender = a_sender(smtp_server.port, handing)
    try:
        with pytest.raises(WithdrawnError, match="consent revoked"):
            await sender.send(revoked, "<1@vestnik.local>")
        assert kept(mail_dir) == 0
        await sender.send(an_email_request("m-other"), "<2@vestnik.local>")
    finally:
        await sender.close()
    assert kept(mail_dir) == 1
