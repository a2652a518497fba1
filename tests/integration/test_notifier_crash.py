"""Issue 16: a notifier killed (SIGKILL) in the middle of an SMTP conversation loses no e-mail
and sends none twice (the relay here kills the notifier's process itself, at the exact step
under test, so the test does not depend on timing); a notifier that starts sends nothing
before its view of consent is current."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from deploy.local.sinks.smtp import MaildirHandler
from schemas import NotificationRequested, Topics
from schemas.consent import ContactChanged, ContactChangedPayload
from services.notifier.domain import FATE_UNKNOWN
from tests.builders import an_email_request
from tests.conftest import AUTH, free_port
from tests.kafka_tools import eventually, produce_event, produce_events
from tests.servers import Servers
from tests.services import running


class KillingRelay(MaildirHandler):
    """Kills `victim` once, at RCPT TO (before the message is taken) or right after it has
    stored a message (taken, but the notifier never reads the reply)."""

    def __init__(self, mail_dir: Path, at: str) -> None:
        super().__init__(mail_dir)
        self.at = at
        self.victim: subprocess.Popen[bytes] | None = None

    def _kill(self) -> None:
        if self.victim is not None:
            self.victim.kill()
            self.victim.wait()
            self.victim = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.at == "rcpt":
            self._kill()
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.at == "data":
            self._kill()
        return reply


@pytest.mark.parametrize(
    ("killed_at", "ended_as"),
    [
        ("rcpt", ("sent", None)),  # before its mark: the successor sends it
        ("data", ("failed", FATE_UNKNOWN)),  # marked, then the dot: not sent again
    ],
)
async def test_a_notifier_killed_mid_conversation_sends_the_e_mail_exactly_once(
    servers: Servers,
    topics: Topics,
    notifier_process: dict[str, Any],
    tmp_path: Path,
    killed_at: str,
    ended_as: tuple[str, str | None],
) -> None:
    relay = KillingRelay(tmp_path / "mail", at=killed_at)
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        relay.victim = notifier_process["start"](VESTNIK_SMTP_PORT=str(controller.port))
        request = an_email_request()
        await produce_event(servers.kafka_bootstrap, topics.of(NotificationRequested), request)

        async def killed() -> bool:
            return relay.victim is None

        await eventually(killed, timeout=60)
        notifier_process["start"](VESTNIK_SMTP_PORT=str(controller.port))
        async with httpx.AsyncClient(base_url=notifier_process["url"], headers=AUTH) as notifier:

            async def ended() -> list[dict[str, Any]]:
                found = await notifier.get("/v1/schools/school-1/deliveries")
                items: list[dict[str, Any]] = found.json()["items"]
                return [d for d in items if d["status"] in ("sent", "failed")]

            [delivery] = await eventually(ended, timeout=90)
        await asyncio.sleep(3)  # a resend would come within a scheduler pass or two
    finally:
        controller.stop()

    assert delivery["_id"] == request.payload.dedupe_key
    assert (delivery["status"], delivery.get("last_error")) == ended_as
    assert len(list(relay.mail_dir.glob("*.eml"))) == 1


def email_changed(recipient_id: str) -> ContactChanged:
    payload = ContactChangedPayload(
        recipient_id=recipient_id,
        school_id="school-1",
        channel="email",
        effective_at=datetime.now(UTC),
    )
    return ContactChanged.new(payload, producer="test")


async def test_a_started_notifier_sends_nothing_before_its_view_of_consent_caught_up(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
) -> None:
    """Issue 16: a notifier restarted while an e-mail waited sent it to a contact replaced
    30 s before: its consent consumer had not yet read that far. Here the change waits
    behind 1,500 others, and the request comes after all of them."""
    request = an_email_request()
    others = [email_changed(f"g-other-{n}") for n in range(1500)]
    replaced = email_changed(request.payload.recipient_id)
    await produce_events(servers.kafka_bootstrap, [*others, replaced], f"{run_id}.")
    await produce_event(servers.kafka_bootstrap, topics.of(NotificationRequested), request)

    settings: dict[str, Any] = {
        **service_env,
        "smtp_port": smtp_server.port,
        "scheduler_poll_seconds": 0.3,
    }
    async with running("notifier", run_id, **settings) as notifier:

        async def ended() -> list[dict[str, Any]]:
            found = await notifier.get("/v1/schools/school-1/deliveries", headers=AUTH)
            items: list[dict[str, Any]] = found.json()["items"]
            return [d for d in items if d["status"] in ("sent", "cancelled")]

        [delivery] = await eventually(ended, timeout=90)
    assert (delivery["status"], delivery.get("last_error")) == (
        "cancelled",
        "email contact changed after the request was made",
    )
    assert list(mail_dir.glob("*.eml")) == []
