"""An SMTP server that keeps every message it receives as an `.eml` file."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        mail_dir.mkdir(parents=True, exist_ok=True)

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
