"""What the SMTP sink received: the e-mails as a mail client would read them."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path


def received(mail_dir: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(mail_dir.glob("*.eml"))
    ]
