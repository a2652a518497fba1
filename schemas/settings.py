"""A consent recipient's own file as the consent registry shows it (`GET …/recipients/{id}/
settings`): their preferences with the defaults filled in, their contacts (masked) and their
consents with the text they agreed to. The personal account's settings pages read it, so the
two services share this one contract, as they share the events.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.notify import Category, Channel, QuietHours


class _Shown(BaseModel):
    model_config = ConfigDict(frozen=True)


class ContactShown(_Shown):
    channel: Literal["email", "sms"]
    address_masked: str = Field(
        description="Enough to recognise it, not to read it off a shared screen.",
        examples=["m***@example.org"],
    )
    provenance: str = Field(
        description="How it was handed over (clause 10).", examples=["written: № 17 от 01.09.2026"]
    )
    registered_at: datetime


class ConsentShown(_Shown):
    """A registered consent or refusal, with the text the person agreed to (152-FZ art. 9)."""

    consent_id: str
    student_id: str
    decision: Literal["granted", "refused"]
    operator: str
    purpose: str
    data_categories: list[str]
    actions: list[str]
    valid_from: date
    valid_until: date | None
    revocation_procedure: str
    provenance: str
    registered_at: datetime
    revoked_at: datetime | None = None

    @property
    def in_force(self) -> bool:
        return self.decision == "granted" and self.revoked_at is None


class RecipientSettings(_Shown):
    """What a recipient chose and handed over; consents newest first."""

    recipient_id: str
    name: str
    kind: Literal["guardian", "student"]
    student_ids: list[str]
    channels: dict[Category, list[Channel]]
    paper_only_reason: str | None
    sms_quiet_hours: QuietHours
    contacts: list[ContactShown]
    consents: list[ConsentShown]
