"""One-click unsubscribe links (RFC 8058): the notifier signs who a mailing is for and its
category into the `List-Unsubscribe` URL of each e-mail; the personal account checks the
signature and turns e-mail off for that category, with no sign-in (a mail client posts to the
link by itself). Keyed with a deployment secret both services hold
(`VESTNIK_UNSUBSCRIBE_KEY`), so nobody can forge a link for someone else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Self

from pydantic import Field, SecretStr, model_validator

from services.shared.config import ServiceSettings

# Local stacks only: production refuses to start with it.
DEV_UNSUBSCRIBE_KEY = "vestnik-local-unsubscribe-key-not-for-production"


@dataclass(frozen=True)
class Unsubscribe:
    school_id: str
    recipient_id: str
    category: str


def unsubscribe_token(what: Unsubscribe, key: str) -> str:
    message = f"{what.school_id}\n{what.recipient_id}\n{what.category}".encode()
    body = base64.urlsafe_b64encode(message).decode().rstrip("=")
    return f"{body}.{_mac(body, key)}"


def unsubscribe_of(token: str, key: str) -> Unsubscribe | None:
    """What a token `unsubscribe_token` made says; None for anything else."""
    body, _, mac = token.partition(".")
    if not body or not hmac.compare_digest(_mac(body, key), mac):
        return None
    try:
        parts = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split("\n")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return Unsubscribe(*parts) if len(parts) == 3 else None


def _mac(body: str, key: str) -> str:
    return hmac.new(key.encode(), f"unsubscribe:{body}".encode(), hashlib.sha256).hexdigest()[:32]


class UnsubscribeSettings(ServiceSettings):
    """The settings of the services that make or honour unsubscribe links (notifier, account)."""

    unsubscribe_key: SecretStr = Field(
        SecretStr(DEV_UNSUBSCRIBE_KEY), validation_alias="VESTNIK_UNSUBSCRIBE_KEY"
    )
    # Where families open the personal account: unsubscribe links and the settings page.
    account_url: str = Field("http://127.0.0.1:8005", validation_alias="VESTNIK_ACCOUNT_URL")

    @model_validator(mode="after")
    def _refuse_dev_unsubscribe_key_in_production(self) -> Self:
        key = self.unsubscribe_key.get_secret_value()
        if self.environment == "production" and (key == DEV_UNSUBSCRIBE_KEY or len(key) < 32):
            raise ValueError("VESTNIK_UNSUBSCRIBE_KEY must be a real secret of 32+ characters")
        return self
