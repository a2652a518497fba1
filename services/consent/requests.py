"""What the consent registry's API accepts: every string and list bounded, no unknown field."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.notify import Category, Channel, QuietHours
from services.consent.domain import ConsentDecision, RecipientKind

# A signed document travels inline as base64: a page of text with a signature is a few KB, a
# scanned page some hundred KB; the request body limit (services.shared.http) bounds the whole.
MAX_DOCUMENT_BASE64 = 2_000_000
MAX_SIGNATURE_BASE64 = 200_000
Text = Annotated[str, Field(min_length=1, max_length=500)]
Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientIn(_In):
    kind: RecipientKind
    name: str = Field(min_length=1, max_length=200, examples=["Иванова Мария Петровна"])
    student_ids: list[Id] = Field(min_length=1, max_length=50, examples=[["st-1"]])
    relation: str | None = Field(None, max_length=100, examples=["мать"])
    snils: str | None = Field(
        None,
        pattern=r"^\d{3}-?\d{3}-?\d{3}[ -]?\d{2}$",
        description="СНИЛС, where the school binds electronic signatures to it.",
        examples=["112-233-445 95"],
    )

    @field_validator("snils")
    @classmethod
    def _snils_checksum(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = "".join(ch for ch in value if ch.isdigit())
        if not snils_checksum_ok(digits):
            raise ValueError("the check digits do not match: not a valid SNILS")
        return digits


def snils_checksum_ok(digits: str) -> bool:
    """The Pension Fund's check: the sum of digits weighted 9..1, mod 101 (100 and 101 → 00)."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    total = sum(
        int(digit) * weight for digit, weight in zip(digits[:9], range(9, 0, -1), strict=True)
    )
    return total % 101 % 100 == int(digits[9:])


class WrittenProof(_In):
    """A paper document the parent signed, registered by the staff member who accepted it."""

    form: Literal["written"]
    document_number: str = Field(min_length=1, max_length=100, examples=["17"])
    document_date: date
    accepted_by: str = Field(min_length=1, max_length=200, examples=["Секретарь Сидорова Н. В."])
    scan_ref: str | None = Field(
        None, max_length=500, description="Where the scan is kept, if anywhere."
    )

    def summary(self) -> str:
        return f"written: № {self.document_number} от {self.document_date.strftime('%d.%m.%Y')}"


class ElectronicProof(_In):
    """A document the parent signed with an electronic signature: the document and a detached
    CMS/PKCS#7 signature (DER), both base64. Checked against the school's trusted certificates,
    and the signer's certificate must name the recipient."""

    form: Literal["electronic"]
    document_base64: str = Field(min_length=4, max_length=MAX_DOCUMENT_BASE64)
    signature_base64: str = Field(min_length=4, max_length=MAX_SIGNATURE_BASE64)


Proof = Annotated[WrittenProof | ElectronicProof, Field(discriminator="form")]


class TrustedCertificateIn(_In):
    pem: str = Field(
        min_length=50, max_length=20_000, description="A CA certificate the school trusts, PEM."
    )


class SignaturePolicyIn(_In):
    """How a signer's qualified certificate (63-FZ) must name the recipient."""

    signer_identity: Literal["full_name", "snils"] = Field(
        description="full_name: surname and given names (or the common name) equal the "
        "recipient's name; snils: the certificate's SNILS equals the recipient's."
    )


class ConsentIn(_In):
    """A consent or refusal with the fields 152-FZ art. 9 part 4 asks of a written consent."""

    recipient_id: Id = Field(description="Who gives it (a parent for a minor).")
    student_id: Id = Field(description="Whose personal data.")
    decision: ConsentDecision
    operator: Text = Field(examples=["МБОУ «Школа № 1», ИНН 7700000000"])
    purpose: Text = Field(examples=["информирование о результатах обучения"])
    data_categories: list[Text] = Field(
        min_length=1, max_length=50, examples=[["ФИО", "оценки", "e-mail"]]
    )
    actions: list[Text] = Field(
        min_length=1, max_length=50, examples=[["сбор", "хранение", "передача"]]
    )
    valid_from: date
    valid_until: date | None = None
    revocation_procedure: Text = Field(examples=["письменное заявление"])
    proof: Proof


class RevocationIn(_In):
    reason: str | None = Field(None, max_length=500)


class ContactIn(_In):
    address: str = Field(min_length=3, max_length=254, examples=["maria@example.org"])
    proof: Proof


class PreferencesIn(_In):
    channels: dict[Category, list[Channel]] = Field(
        default_factory=dict,
        description="Per category; categories left out keep the defaults.",
    )
    paper_only_reason: str | None = Field(
        None,
        max_length=500,
        description="Set to declare paper only (clause 2): no electronic informing.",
    )
    sms_quiet_hours: QuietHours = Field(default_factory=QuietHours)

    @field_validator("channels")
    @classmethod
    def _few_channels(cls, value: dict[Category, list[Channel]]) -> dict[Category, list[Channel]]:
        if any(len(chosen) > 10 for chosen in value.values()):
            raise ValueError("at most 10 channels per category")
        return value


# A scheduler pass of the notifier asks about at most this many notices of one school at once.
MAX_NOTICES_PER_CHECK = 1000


class NoticeIn(_In):
    """A notice the notifier is about to send, as consent made it."""

    recipient_id: Id
    student_ids: list[Id] = Field(
        min_length=1, max_length=50, description="Every child the notice is about."
    )
    channel: Channel
    category: Category
    address: str | None = Field(
        None, min_length=1, max_length=254, description="E-mail or phone; none for the inbox."
    )


class NoticeChecksIn(_In):
    notices: list[NoticeIn] = Field(min_length=1, max_length=MAX_NOTICES_PER_CHECK)


class NoticeCheckOut(BaseModel):
    send: bool
    reason: str | None = Field(
        None, description="Why not, where `send` is false («consent revoked on 2026-11-30»)."
    )


class NoticeChecksOut(BaseModel):
    results: list[NoticeCheckOut] = Field(description="One per notice asked about, in order.")
    hand_over_within_seconds: float = Field(
        description="How long, from the question, a `send: true` holds: a change that could "
        "stop one of these notices is answered only after that, so a notice not handed over "
        "to its provider by then must be asked about again."
    )
