"""Events the consent service publishes about its own registry (`consent.changes.v1`).

They name people by id only: no contact data travels here (a contact's keyed digest does,
for the personal account's sign-in). Keyed by the recipient, so one
person's changes stay in order.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import Envelope, Payload


class RecipientPayload(Payload):
    recipient_id: str = Field(min_length=1)
    school_id: str = Field(min_length=1)

    @property
    def partition_key(self) -> str:
        return self.recipient_id


class ConsentDecidedPayload(RecipientPayload):
    """A consent or a refusal to personal-data processing was registered (152-FZ)."""

    kind: Literal["consent_decided"] = "consent_decided"
    consent_id: str = Field(min_length=1)
    student_id: str = Field(min_length=1)
    decision: Literal["granted", "refused"]
    valid_until: date | None = None
    effective_at: AwareDatetime
    recipient_kind: Literal["guardian", "student"] | None = Field(
        default=None,
        description="Who decided: a guardian about a child, or a student about themselves "
        "(the personal account gives students their own sign-in from basic level on). None "
        "from producers older than this field.",
    )


class ConsentRevokedPayload(RecipientPayload):
    kind: Literal["consent_revoked"] = "consent_revoked"
    consent_id: str = Field(min_length=1)
    student_id: str = Field(min_length=1)
    effective_at: AwareDatetime


class ContactChangedPayload(RecipientPayload):
    kind: Literal["contact_changed"] = "contact_changed"
    channel: Literal["email", "sms"]
    removed: bool = False
    effective_at: AwareDatetime
    address_digest: str | None = Field(
        default=None,
        description="HMAC-SHA256 (hex) of the channel and the normalised address, keyed with "
        "the deployment's contact digest key: the personal account recognises the contact at "
        "sign-in without the address travelling. None when removed.",
    )


class PreferencesChangedPayload(RecipientPayload):
    kind: Literal["preferences_changed"] = "preferences_changed"
    paper_only: bool = Field(description="Declared that they cannot or will not go electronic.")
    student_ids: tuple[str, ...] = ()
    effective_at: AwareDatetime


class ConsentGranted(Envelope[ConsentDecidedPayload]):
    topic: ClassVar[str] = "consent.changes.v1"
    type: Literal["ConsentGranted"] = "ConsentGranted"
    version: Literal[1] = 1


class ConsentRefused(Envelope[ConsentDecidedPayload]):
    topic: ClassVar[str] = "consent.changes.v1"
    type: Literal["ConsentRefused"] = "ConsentRefused"
    version: Literal[1] = 1


class ConsentRevoked(Envelope[ConsentRevokedPayload]):
    topic: ClassVar[str] = "consent.changes.v1"
    type: Literal["ConsentRevoked"] = "ConsentRevoked"
    version: Literal[1] = 1


class ContactChanged(Envelope[ContactChangedPayload]):
    topic: ClassVar[str] = "consent.changes.v1"
    type: Literal["ContactChanged"] = "ContactChanged"
    version: Literal[1] = 1


class PreferencesChanged(Envelope[PreferencesChangedPayload]):
    topic: ClassVar[str] = "consent.changes.v1"
    type: Literal["PreferencesChanged"] = "PreferencesChanged"
    version: Literal[1] = 1


ConsentChange = Annotated[
    ConsentGranted | ConsentRefused | ConsentRevoked | ContactChanged | PreferencesChanged,
    Field(discriminator="type"),
]
