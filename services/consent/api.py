"""The consent registry's HTTP API (`/v1/schools/{school_id}/…`).

Staff and admins register what parents hand over in writing; a parent's own token manages
only their own consents, contacts and preferences.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import phonenumbers
from cryptography import x509
from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from schemas import Envelope
from schemas.consent import (
    ConsentDecidedPayload,
    ConsentGranted,
    ConsentRefused,
    ConsentRevoked,
    ConsentRevokedPayload,
    ContactChanged,
    ContactChangedPayload,
    PreferencesChanged,
    PreferencesChangedPayload,
)
from schemas.notify import Category, Channel, QuietHours
from services.consent.domain import DEFAULT_CHANNELS, ConsentDecision, Recipient, RecipientKind
from services.consent.signatures import SignatureError, verify_detached
from services.consent.store import MongoConsentRegistry
from services.shared.auth import Principal, Role, require
from services.shared.http import RecordId

STAFF: tuple[Role, ...] = ("admin", "staff")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientIn(_In):
    kind: RecipientKind
    name: str = Field(min_length=1, examples=["Иванова Мария Петровна"])
    student_ids: list[str] = Field(min_length=1, examples=[["st-1"]])
    relation: str | None = Field(None, examples=["мать"])


class WrittenProof(_In):
    """A paper document the parent signed, registered by the staff member who accepted it."""

    form: Literal["written"]
    document_number: str = Field(min_length=1, examples=["17"])
    document_date: date
    accepted_by: str = Field(min_length=1, examples=["Секретарь Сидорова Н. В."])
    scan_ref: str | None = Field(None, description="Where the scan is kept, if anywhere.")

    def summary(self) -> str:
        return f"written: № {self.document_number} от {self.document_date.strftime('%d.%m.%Y')}"


class ElectronicProof(_In):
    """A document the parent signed with an electronic signature: the document and a detached
    CMS/PKCS#7 signature (DER), both base64. Checked against the school's trusted certificates."""

    form: Literal["electronic"]
    document_base64: str = Field(min_length=4)
    signature_base64: str = Field(min_length=4)


Proof = Annotated[WrittenProof | ElectronicProof, Field(discriminator="form")]


class TrustedCertificateIn(_In):
    pem: str = Field(min_length=50, description="A CA certificate the school trusts, PEM.")


class ConsentIn(_In):
    """A consent or refusal with the fields 152-FZ art. 9 part 4 asks of a written consent."""

    recipient_id: str = Field(min_length=1, description="Who gives it (a parent for a minor).")
    student_id: str = Field(min_length=1, description="Whose personal data.")
    decision: ConsentDecision
    operator: str = Field(min_length=1, examples=["МБОУ «Школа № 1», ИНН 7700000000"])
    purpose: str = Field(min_length=1, examples=["информирование о результатах обучения"])
    data_categories: list[str] = Field(min_length=1, examples=[["ФИО", "оценки", "e-mail"]])
    actions: list[str] = Field(min_length=1, examples=[["сбор", "хранение", "передача"]])
    valid_from: date
    valid_until: date | None = None
    revocation_procedure: str = Field(min_length=1, examples=["письменное заявление"])
    proof: Proof


class RevocationIn(_In):
    reason: str | None = Field(None, max_length=500)


class ContactIn(_In):
    address: str = Field(min_length=3, max_length=254, examples=["maria@example.org"])
    proof: Proof


class PreferencesIn(_In):
    channels: dict[Category, list[Channel]] = Field(
        default_factory=dict, description="Per category; categories left out keep the defaults."
    )
    paper_only_reason: str | None = Field(
        None, description="Set to declare paper only (clause 2): no electronic informing."
    )
    sms_quiet_hours: QuietHours = Field(default_factory=QuietHours)


def consent_router(
    registry: MongoConsentRegistry,
    *,
    principal: Any,
    publish: Callable[[Envelope[Any]], Awaitable[None]],
) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["registry"])

    @router.put("/recipients/{recipient_id}", summary="A guardian or a student", status_code=204)
    async def put_recipient(
        school_id: RecordId,
        recipient_id: RecordId,
        body: RecipientIn,
        caller: Principal = principal,
    ) -> None:
        require(caller, school_id, STAFF)
        await registry.save_recipient(
            Recipient(
                recipient_id,
                school_id,
                body.name,
                body.kind,
                tuple(body.student_ids),
                body.relation,
            ),
            by=caller.subject,
        )

    @router.put("/consents/{consent_id}", summary="Register a consent or refusal", status_code=201)
    async def put_consent(
        school_id: RecordId, consent_id: RecordId, body: ConsentIn, caller: Principal = principal
    ) -> dict[str, str]:
        await _may_act_for(caller, school_id, body.recipient_id)
        now = datetime.now(UTC)
        document = {
            "consent_id": consent_id,
            "school_id": school_id,
            **body.model_dump(mode="json"),
            "registered_at": now,
            "registered_by": caller.subject,
            "proof": await _provenance(school_id, body.proof, now),
        }
        if not await registry.save_consent(document, by=caller.subject):
            raise HTTPException(status.HTTP_409_CONFLICT, "this consent id is already registered")
        event_type = ConsentGranted if body.decision == "granted" else ConsentRefused
        await publish(
            event_type.new(
                ConsentDecidedPayload(
                    recipient_id=body.recipient_id,
                    school_id=school_id,
                    consent_id=consent_id,
                    student_id=body.student_id,
                    decision=body.decision,
                    valid_until=body.valid_until,
                    effective_at=now,
                ),
                producer="consent",
            )
        )
        return {"status": "registered"}

    @router.get("/consents/{consent_id}", summary="One consent document, as registered")
    async def get_consent(
        school_id: RecordId, consent_id: RecordId, caller: Principal = principal
    ) -> dict[str, Any]:
        document = await registry.consent(school_id, consent_id)
        if document is None:
            require(caller, school_id, STAFF)
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consent")
        await _may_act_for(caller, school_id, document["recipient_id"])
        return document

    @router.post("/consents/{consent_id}/revocation", summary="Revoke, effective immediately")
    async def revoke(
        school_id: RecordId, consent_id: RecordId, body: RevocationIn, caller: Principal = principal
    ) -> dict[str, str]:
        document = await registry.consent(school_id, consent_id)
        if document is None:
            require(caller, school_id, STAFF)
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consent")
        await _may_act_for(caller, school_id, document["recipient_id"])
        now = datetime.now(UTC)
        before = await registry.revoke_consent(
            school_id, consent_id, at=now, by=caller.subject, reason=body.reason
        )
        if before is not None and before.get("revoked_at") is None:
            await publish(
                ConsentRevoked.new(
                    ConsentRevokedPayload(
                        recipient_id=document["recipient_id"],
                        school_id=school_id,
                        consent_id=consent_id,
                        student_id=document["student_id"],
                        effective_at=now,
                    ),
                    producer="consent",
                )
            )
        return {"status": "revoked"}

    @router.put(
        "/recipients/{recipient_id}/contacts/{channel}",
        summary="E-mail or phone, only with the document it was handed over in",
        status_code=204,
    )
    async def put_contact(
        school_id: RecordId,
        recipient_id: RecordId,
        channel: Literal["email", "sms"],
        body: ContactIn,
        caller: Principal = principal,
    ) -> None:
        await _may_act_for(caller, school_id, recipient_id)
        address = _normalised(channel, body.address)
        now = datetime.now(UTC)
        document = {
            "address": address,
            "provenance": await _provenance(school_id, body.proof, now),
            "registered_at": now,
        }
        await registry.save_contact(school_id, recipient_id, channel, document, by=caller.subject)
        await publish(
            ContactChanged.new(
                ContactChangedPayload(
                    recipient_id=recipient_id,
                    school_id=school_id,
                    channel=channel,
                    effective_at=datetime.now(UTC),
                ),
                producer="consent",
            )
        )

    @router.put(
        "/recipients/{recipient_id}/preferences",
        summary="Categories × channels, paper only",
        status_code=204,
    )
    async def put_preferences(
        school_id: RecordId,
        recipient_id: RecordId,
        body: PreferencesIn,
        caller: Principal = principal,
    ) -> None:
        recipient = await _may_act_for(caller, school_id, recipient_id)
        channels = {category: sorted(chosen) for category, chosen in DEFAULT_CHANNELS.items()}
        channels.update(
            {category: sorted(set(chosen)) for category, chosen in body.channels.items()}
        )
        document = {
            "channels": channels,
            "paper_only_reason": body.paper_only_reason,
            "sms_quiet_hours": body.sms_quiet_hours.model_dump(mode="json"),
        }
        await registry.save_preferences(school_id, recipient_id, document, by=caller.subject)
        await publish(
            PreferencesChanged.new(
                PreferencesChangedPayload(
                    recipient_id=recipient_id,
                    school_id=school_id,
                    paper_only=body.paper_only_reason is not None,
                    student_ids=recipient.student_ids,
                    effective_at=datetime.now(UTC),
                ),
                producer="consent",
            )
        )

    @router.get("/recipients/{recipient_id}/history", summary="Every change, for an audit")
    async def history(
        school_id: RecordId,
        recipient_id: RecordId,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
        caller: Principal = principal,
    ) -> Response:
        """152-FZ art. 9 part 3: the operator must be able to prove the consent."""
        await _may_act_for(caller, school_id, recipient_id)
        entries = await registry.history(school_id, recipient_id)
        if format == "json":
            return Response(
                json.dumps(entries, default=str, ensure_ascii=False), media_type="application/json"
            )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at", "by", "action", "details"])
        for entry in entries:
            details = json.dumps(entry["details"], default=str, ensure_ascii=False)
            writer.writerow([entry["at"].isoformat(), entry["by"], entry["action"], details])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")

    @router.get("/students/{student_id}/decisions", summary="Why was who told what (or not)")
    async def decisions(
        school_id: RecordId,
        student_id: RecordId,
        event: Annotated[str | None, Query(description="A journal event id")] = None,
        caller: Principal = principal,
    ) -> list[dict[str, Any]]:
        """Answers the support question «why did this parent get nothing?»."""
        require(caller, school_id, STAFF)
        return await registry.decisions(school_id, student_id, event)

    @router.put(
        "/trusted-certificates/{name}",
        summary="A certificate authority whose electronic signatures the school accepts",
        status_code=204,
    )
    async def put_trusted_certificate(
        school_id: RecordId,
        name: RecordId,
        body: TrustedCertificateIn,
        caller: Principal = principal,
    ) -> None:
        require(caller, school_id, ("admin",))
        try:
            x509.load_pem_x509_certificate(body.pem.encode())
        except ValueError as error:
            raise _invalid(["body", "pem"], f"not a PEM certificate: {error}") from None
        await registry.save_trusted_certificate(school_id, name, body.pem, by=caller.subject)

    async def _provenance(
        school_id: str, proof: WrittenProof | ElectronicProof, now: datetime
    ) -> dict[str, Any]:
        """What we keep as proof; an electronic signature is verified first (422 if unsound)."""
        if isinstance(proof, WrittenProof):
            return {**proof.model_dump(mode="json"), "summary": proof.summary()}
        try:
            document = base64.b64decode(proof.document_base64, validate=True)
            signature = base64.b64decode(proof.signature_base64, validate=True)
        except binascii.Error:
            raise _invalid(["body", "proof"], "document and signature must be base64") from None
        trusted = await registry.trusted_certificates(school_id)
        try:
            signer = verify_detached(document, signature, trusted, now)
        except SignatureError as error:
            raise _invalid(["body", "proof", "signature_base64"], str(error)) from None
        return {
            **proof.model_dump(mode="json"),
            "signer": signer.subject,
            "issuer": signer.issuer,
            "serial_number": str(signer.serial_number),
            "verified_at": now.isoformat(),
            "summary": f"electronic: signed by {signer.subject}",
        }

    async def _may_act_for(caller: Principal, school_id: str, recipient_id: str) -> Recipient:
        """Staff of the school, or the parent themselves; 403 alike whether or not they exist."""
        require(caller, school_id, STAFF, or_parent=recipient_id)
        recipient = await registry.recipient(school_id, recipient_id)
        if recipient is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {
                        "loc": ["body", "recipient_id"],
                        "msg": "no such recipient",
                        "type": "reference",
                    }
                ],
            )
        return recipient

    return router


def _invalid(loc: list[str], reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": loc, "msg": reason, "type": "value_error"}],
    )


def _normalised(channel: str, address: str) -> str:
    def invalid(reason: str) -> HTTPException:
        return _invalid(["body", "address"], reason)

    if channel == "email":
        try:
            return validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise invalid(str(error)) from None
    try:
        number = phonenumbers.parse(address, "RU")
    except phonenumbers.NumberParseException as error:
        raise invalid(str(error)) from None
    if not phonenumbers.is_valid_number(number):
        raise invalid("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
