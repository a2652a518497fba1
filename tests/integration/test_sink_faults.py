"""The local sinks' faults for the chaos run (issue 16), switched by writing `faults.json`: the
SMTP sink refuses with 451 or 421 or drops the connection for a stretch and keeps nothing it
did not accept; the SMS sink throttles with 429 and refuses listed numbers one by one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller

from deploy.local.sinks.faults import SmsFaults, SmtpFaults, clear, set_sms_faults, set_smtp_faults

MESSAGE = "From: school@example.org\r\nTo: parent@example.org\r\nSubject: test\r\n\r\nhello\r\n"


async def send(port: int) -> None:
    await aiosmtplib.send(
        MESSAGE,
        sender="school@example.org",
        recipients=["parent@example.org"],
        hostname="127.0.0.1",
        port=port,
        timeout=10,
    )


def kept(mail_dir: Path) -> int:
    return len(list(mail_dir.glob("*.eml")))


async def wait_out(seconds: float = 0.3) -> None:
    """Past the sink's re-read of faults.json."""
    await asyncio.sleep(seconds)


async def test_the_smtp_sink_refuses_and_drops_for_a_stretch_and_keeps_only_what_it_took(
    smtp_server: Controller, mail_dir: Path
) -> None:
    port = smtp_server.port
    set_smtp_faults(mail_dir, SmtpFaults(reply_code=451, until=time.time() + 60))
    await wait_out()
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await send(port)
    assert refused.value.code == 451
    set_smtp_faults(mail_dir, SmtpFaults(reply_code=421, until=time.time() + 60))
    await wait_out()
    with pytest.raises(aiosmtplib.SMTPException):
        await send(port)
    set_smtp_faults(mail_dir, SmtpFaults(drop=True, until=time.time() + 60))
    await wait_out()
    with pytest.raises(aiosmtplib.SMTPException):
        await send(port)
    assert kept(mail_dir) == 0
    set_smtp_faults(mail_dir, SmtpFaults(reply_code=451, until=time.time() - 1))  # over
    await wait_out()
    await send(port)
    clear(mail_dir)
    await wait_out()
    await send(port)
    assert kept(mail_dir) == 2


async def test_the_sms_sink_throttles_then_refuses_listed_numbers_alone(
    sms_gateway: str, sms_dir: Path
) -> None:
    async with httpx.AsyncClient(base_url=sms_gateway) as client:

        async def send(to: str) -> httpx.Response:
            return await client.post("/sms/send", data={"to": to, "msg": "Привет"})

        set_sms_faults(sms_dir, SmsFaults(throttle_until=time.time() + 60))
        await wait_out()
        throttled = await send("+79161234567")
        set_sms_faults(sms_dir, SmsFaults(failing_numbers=("79161234567",)))
        await wait_out()
        refused, other = await send("+79161234567"), await send("+79167654321")
        clear(sms_dir)
        await wait_out()
        again = await send("+79161234567")

    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
    assert refused.json()["sms"]["79161234567"]["status_code"] == 230  # temporary, per number
    assert other.json()["sms"]["79167654321"]["status"] == "OK"
    assert again.json()["sms"]["79161234567"]["status"] == "OK"
    assert len(list(sms_dir.glob("*.json"))) == 2


async def test_the_sms_sink_sends_a_client_id_once_even_after_a_restart(sms_dir: Path) -> None:
    """Idempotent sending, which the notifier relies on after a crash (issue 16): a repeat of
    an accepted `client_id` is answered as the first time and sends nothing."""
    from deploy.local.sinks.sms import create_sms_sink
    from tests.services import on_a_port

    def form(client_id: str) -> dict[str, str]:
        return {"to": "+79161234567", "msg": "Привет", "client_id": client_id}

    replies = []
    for _ in range(2):  # the second time, a new sink on the same directory: a restart
        async with (
            on_a_port(create_sms_sink(sms_dir)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            for client_id in ("a@vestnik.local", "a@vestnik.local", "b@vestnik.local"):
                reply = await client.post("/sms/send", data=form(client_id))
                replies.append(reply.json()["sms"]["79161234567"]["sms_id"])

    first, repeat, other, *after_restart = replies
    assert first == repeat != other
    assert after_restart == [first, first, other]
    assert len(list(sms_dir.glob("*.json"))) == 2
