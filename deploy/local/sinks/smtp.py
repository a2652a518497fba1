"""An SMTP server that keeps every message it receives as an `.eml` file."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from deploy.local.sinks.faults import FaultFile


class MaildirHandler:
    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        mail_dir.mkdir(parents=True, exist_ok=True)
        self.faults = FaultFile(mail_dir)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        code = self.faults.smtp().reply_now()
        if code is not None:  # the chaos run's stretch of refusals (faults.json)
            if code == 421:  # the server is closing: it says so, then does
                asyncio.get_running_loop().call_soon(server.transport.close)
            return f"{code} 4.3.2 Try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.faults.smtp().drop_now():  # a dropped connection, before the message is taken
            server.transport.abort()
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Time-ordered names, written then renamed, so a reader never sees half a message.
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.mail_dir / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.mail_dir / name)
        return "250 Message accepted for delivery"


def smtp_sink(mail_dir: Path, host: str, port: int) -> Controller:
    """A started-on-demand sink, for tests that need their own."""
    return Controller(MaildirHandler(mail_dir), hostname=host, port=port)


def serve(mail_dir: Path, host: str, port: int) -> None:
    controller = smtp_sink(mail_dir, host, port)
    controller.start()
    try:
        asyncio.run(_forever())
    finally:
        controller.stop()


async def _forever() -> None:
    await asyncio.Event().wait()
