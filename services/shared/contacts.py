"""A contact's digest: how the personal account recognises an address the school holds with
proof, without the address ever travelling on Kafka (issue 14).

The consent service puts `address_digest` on `ContactChanged`; the account computes the same
digest of what a family types at sign-in. Keyed with a deployment secret
(`VESTNIK_CONTACT_DIGEST_KEY`), so the digests cannot be reversed by hashing a list of phone
numbers.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Self

import phonenumbers
from pydantic import Field, SecretStr, model_validator

from services.shared.config import ServiceSettings

# Local stacks only: production refuses to start with it.
DEV_CONTACT_DIGEST_KEY = "vestnik-local-contact-digest-key-not-for-production"


def normalised_contact(channel: str, address: str) -> str | None:
    """E-mail: stripped and lower-cased; phone: E.164 (a Russian number without +7 is read
    as one). None: not a valid phone number."""
    if channel == "email":
        return address.strip().lower()
    try:
        number = phonenumbers.parse(address.strip(), "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_digest(channel: str, address: str, key: str) -> str | None:
    """HMAC-SHA256 (hex) of the channel and normalised address; None if it is not one."""
    normalised = normalised_contact(channel, address)
    if normalised is None:
        return None
    message = f"{channel}:{normalised}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def channel_of(typed: str) -> str:
    """What a person typed at sign-in: an e-mail if it has an @, else a phone number."""
    return "email" if "@" in typed else "sms"


class ContactDigestSettings(ServiceSettings):
    """The settings of the services that digest contacts (consent, account): with the key."""

    contact_digest_key: SecretStr = Field(
        SecretStr(DEV_CONTACT_DIGEST_KEY), validation_alias="VESTNIK_CONTACT_DIGEST_KEY"
    )

    @model_validator(mode="after")
    def _refuse_dev_digest_key_in_production(self) -> Self:
        key = self.contact_digest_key.get_secret_value()
        if self.environment == "production" and (key == DEV_CONTACT_DIGEST_KEY or len(key) < 32):
            raise ValueError("VESTNIK_CONTACT_DIGEST_KEY must be a real secret of 32+ characters")
        return self
