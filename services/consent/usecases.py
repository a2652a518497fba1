"""Registering what parents hand over: recipients, consents, contacts and preferences.

Who may do what: staff and admins of the school register any of it (written documents are
theirs alone to record); a parent acts only for themselves and only about their own children,
and hands a contact over with an electronic signature whose certificate names them (clause 10).
Every change is stored with the event that tells the other services.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import phonenumbers
from cryptography import x509
from email_validator import EmailNotValidError, validate_email

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
from schemas.settings import ConsentShown, ContactShown, RecipientSettings
from services.consent.domain import (
    DEFAULT_CHANNELS,
    HAND_OVER_WINDOW,
    PRODUCER,
    Notice,
    Preferences,
    Recipient,
    RecipientFile,
    hand_over_subjects,
    masked_address,
    why_not_now,
)
from services.consent.requests import (
    ConsentIn,
    ContactIn,
    ElectronicProof,
    NoticeCheckOut,
    NoticeChecksIn,
    NoticeChecksOut,
    PreferencesIn,
    RecipientIn,
    WrittenProof,
)
from services.consent.signatures import (
    SignatureError,
    is_certificate_authority,
    names_recipient,
    verify_detached,
)
from services.shared.auth import Principal, Role
from services.shared.contacts import DEV_CONTACT_DIGEST_KEY, contact_digest
from services.shared.mongo import Document

STAFF: tuple[Role, ...] = ("admin", "staff")
Loc = tuple[str | int, ...]


class ConsentStore(Protocol):
    async def recipient(self, school_id: str, recipient_id: str) -> Recipient | None: ...
    async def save_recipient(self, recipient: Recipient, *, by: str) -> None: ...
    async def consent(self, school_id: str, consent_id: str) -> Document | None: ...
    async def save_consent(self, document: Document, event: Envelope[Any], *, by: str) -> bool: ...
    async def revoke_consent(
        self,
        school_id: str,
        consent_id: str,
        event: Envelope[Any],
        *,
        at: datetime,
        by: str,
        reason: str | None,
    ) -> bool: ...
    async def save_contact(
        self,
        school_id: str,
        recipient_id: str,
        channel: str,
        document: Document,
        event: Envelope[Any],
        *,
        by: str,
    ) -> None: ...
    async def remove_contact(
        self,
        school_id: str,
        recipient_id: str,
        channel: str,
        event: Envelope[Any],
        *,
        by: str,
        reason: str,
    ) -> bool: ...
    async def save_preferences(
        self,
        school_id: str,
        recipient_id: str,
        document: Document,
        event: Envelope[Any],
        *,
        by: str,
    ) -> None: ...
    async def withdrawn_before(self, cutoff: datetime) -> set[tuple[str, str]]: ...
    async def has_consent_in_force(self, school_id: str, recipient_id: str) -> bool: ...
    async def contact_channels(self, school_id: str, recipient_id: str) -> list[str]: ...
    async def trusted_certificates(self, school_id: str) -> list[x509.Certificate]: ...
    async def signature_policy(self, school_id: str) -> str: ...
    async def consents_of(self, school_id: str, recipient_id: str) -> list[Document]: ...
    async def contacts_of(self, school_id: str, recipient_id: str) -> list[Document]: ...
    async def preferences_of(self, school_id: str, recipient_id: str) -> Preferences: ...
    async def files_for_students(
        self, students: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list[RecipientFile]]: ...
    async def hold_hand_overs(
        self, school_id: str, subjects: list[str], until: datetime
    ) -> None: ...
    async def hand_overs_until(self, school_id: str, subjects: list[str]) -> datetime | None: ...


class ForbiddenError(Exception):
    """Not for this caller (403): the same answer whether or not the thing exists."""


class NotFoundError(Exception):
    pass


class ConflictError(Exception):
    pass


class InvalidFieldError(Exception):
    """422 naming the field, in the shape FastAPI gives its own validation errors."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Registry:
    """The ports every use case takes."""

    store: ConsentStore
    now: datetime
    # Keys `ContactChanged.address_digest` (the personal account's sign-in).
    digest_key: str = DEV_CONTACT_DIGEST_KEY
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _belongs(caller: Principal, school_id: str) -> None:
    if caller.school_id != school_id:
        raise ForbiddenError("another school's registry")


def require_staff(caller: Principal, school_id: str, roles: tuple[Role, ...] = STAFF) -> None:
    _belongs(caller, school_id)
    if caller.role not in roles:
        raise ForbiddenError("for the school's staff only")


async def may_act_for(
    caller: Principal, school_id: str, recipient_id: str, *, store: ConsentStore
) -> Recipient:
    """Staff of the school, or the parent themselves; 403 alike whether or not they exist."""
    _belongs(caller, school_id)
    own = caller.role == "parent" and caller.person_id == recipient_id
    if not own and caller.role not in STAFF:
        raise ForbiddenError("a parent acts only for themselves")
    recipient = await store.recipient(school_id, recipient_id)
    if recipient is None:
        raise InvalidFieldError(("body", "recipient_id"), "no such recipient")
    return recipient


async def check_notices(
    school_id: str, body: NoticeChecksIn, caller: Principal, *, registry: Registry
) -> NoticeChecksOut:
    """Whether each notice may still go out, asked by the notifier right before it sends:
    what its own view of consent (fed by Kafka) cannot know yet, a change accepted a moment
    ago, this can. Four queries for the whole batch."""
    require_staff(caller, school_id, ("service",))
    students = sorted({s for notice in body.notices for s in notice.student_ids})
    # The window is held before the files are read: a change either is read here, or finds
    # the window when it looks for one after its own write, and waits for its end.
    subjects = hand_over_subjects([n.recipient_id for n in body.notices], students)
    await registry.store.hold_hand_overs(school_id, subjects, registry.now + HAND_OVER_WINDOW)
    files = await registry.store.files_for_students([(school_id, s) for s in students])
    by_student = {student_id: files.get((school_id, student_id), []) for student_id in students}
    results = []
    for n in body.notices:
        notice = Notice(n.recipient_id, tuple(n.student_ids), n.channel, n.category, n.address)
        reason = why_not_now(notice, by_student, registry.now)
        results.append(NoticeCheckOut(send=reason is None, reason=reason))
    return NoticeChecksOut(
        results=results, hand_over_within_seconds=HAND_OVER_WINDOW.total_seconds()
    )


async def _after_hand_overs(
    school_id: str,
    registry: Registry,
    *,
    recipient_ids: tuple[str, ...] = (),
    student_ids: tuple[str, ...] = (),
) -> None:
    """A change that may stop a notice returns (and so counts as made) only once every
    hand-over window it overlaps has ended: no message consent allowed before it reaches a
    provider after it. Rarely more than nothing, at most `HAND_OVER_WINDOW`. Timed from the
    request's start, so it waits, if anything, a little longer than it must."""
    subjects = hand_over_subjects(recipient_ids, student_ids)
    until = await registry.store.hand_overs_until(school_id, subjects)
    if until is not None and until > registry.now:
        await registry.sleep((until - registry.now).total_seconds())


async def recipient_settings(
    school_id: str, recipient_id: str, caller: Principal, *, store: ConsentStore
) -> RecipientSettings:
    """A recipient's own file: what the personal account's settings page shows them."""
    recipient = await may_act_for(caller, school_id, recipient_id, store=store)
    preferences = await store.preferences_of(school_id, recipient_id)
    contacts = [
        ContactShown(
            channel=doc["channel"],
            address_masked=masked_address(doc["channel"], doc["address"]),
            provenance=doc["provenance"]["summary"],
            registered_at=doc["registered_at"],
        )
        for doc in await store.contacts_of(school_id, recipient_id)
    ]
    consents = [
        ConsentShown.model_validate({**doc, "provenance": doc["proof"]["summary"]})
        for doc in await store.consents_of(school_id, recipient_id)
    ]
    return RecipientSettings(
        recipient_id=recipient_id,
        name=recipient.name,
        kind=recipient.kind,
        student_ids=list(recipient.student_ids),
        channels={
            category: sorted(channels) for category, channels in preferences.channels.items()
        },
        paper_only_reason=preferences.paper_only_reason,
        sms_quiet_hours=preferences.sms_quiet_hours,
        contacts=contacts,
        consents=consents,
    )


async def save_recipient(
    school_id: str, recipient_id: str, body: RecipientIn, caller: Principal, *, store: ConsentStore
) -> None:
    require_staff(caller, school_id)
    recipient = Recipient(
        recipient_id,
        school_id,
        body.name,
        body.kind,
        tuple(body.student_ids),
        body.relation,
        body.snils,
    )
    await store.save_recipient(recipient, by=caller.subject)


async def register_consent(
    school_id: str, consent_id: str, body: ConsentIn, caller: Principal, *, registry: Registry
) -> None:
    store = registry.store
    recipient = await may_act_for(caller, school_id, body.recipient_id, store=store)
    if body.student_id not in recipient.student_ids:
        if caller.role == "parent":
            raise ForbiddenError("a parent registers consents only about their own children")
        raise InvalidFieldError(
            ("body", "student_id"), "the recipient is not registered for this student"
        )
    if body.valid_until is not None and body.valid_until < body.valid_from:
        raise InvalidFieldError(("body", "valid_until"), "ends before valid_from")
    document = {
        "consent_id": consent_id,
        "school_id": school_id,
        **body.model_dump(mode="json"),
        "registered_at": registry.now,
        "registered_by": caller.subject,
        "proof": await _provenance(school_id, body.proof, caller, recipient, registry),
    }
    event_type = ConsentGranted if body.decision == "granted" else ConsentRefused
    event = event_type.new(
        ConsentDecidedPayload(
            recipient_id=body.recipient_id,
            school_id=school_id,
            consent_id=consent_id,
            student_id=body.student_id,
            decision=body.decision,
            valid_until=body.valid_until,
            effective_at=registry.now,
            recipient_kind=recipient.kind,
        ),
        producer=PRODUCER,
    )
    if not await store.save_consent(document, event, by=caller.subject):
        raise ConflictError("this consent id is already registered")
    if body.decision == "refused":  # it governs from now on, over an earlier grant
        await _after_hand_overs(
            school_id, registry, recipient_ids=(body.recipient_id,), student_ids=(body.student_id,)
        )


async def consent_document(
    school_id: str, consent_id: str, caller: Principal, *, store: ConsentStore
) -> Document:
    document = await store.consent(school_id, consent_id)
    if document is None:
        require_staff(caller, school_id)  # a parent learns nothing about others' ids
        raise NotFoundError("no such consent")
    await may_act_for(caller, school_id, document["recipient_id"], store=store)
    return document


async def revoke_consent(
    school_id: str,
    consent_id: str,
    reason: str | None,
    caller: Principal,
    *,
    registry: Registry,
) -> None:
    """Effective immediately; revoking again changes nothing."""
    document = await consent_document(school_id, consent_id, caller, store=registry.store)
    event = ConsentRevoked.new(
        ConsentRevokedPayload(
            recipient_id=document["recipient_id"],
            school_id=school_id,
            consent_id=consent_id,
            student_id=document["student_id"],
            effective_at=registry.now,
        ),
        producer=PRODUCER,
    )
    await registry.store.revoke_consent(
        school_id, consent_id, event, at=registry.now, by=caller.subject, reason=reason
    )
    await _after_hand_overs(
        school_id,
        registry,
        recipient_ids=(document["recipient_id"],),
        student_ids=(document["student_id"],),
    )


async def save_contact(
    school_id: str,
    recipient_id: str,
    channel: str,
    body: ContactIn,
    caller: Principal,
    *,
    registry: Registry,
) -> None:
    recipient = await may_act_for(caller, school_id, recipient_id, store=registry.store)
    address = normalised_address(channel, body.address)
    document = {
        "address": address,
        "provenance": await _provenance(school_id, body.proof, caller, recipient, registry),
        "registered_at": registry.now,
    }
    changed = _contact_changed(
        school_id,
        recipient_id,
        channel,
        registry.now,
        removed=False,
        digest=contact_digest(channel, address, registry.digest_key),
    )
    await registry.store.save_contact(
        school_id, recipient_id, channel, document, changed, by=caller.subject
    )
    await _after_hand_overs(school_id, registry, recipient_ids=(recipient_id,))


async def remove_contact(
    school_id: str,
    recipient_id: str,
    channel: str,
    caller: Principal,
    *,
    registry: Registry,
) -> None:
    """The address is erased at once; the history keeps that it was handed over, and how."""
    await may_act_for(caller, school_id, recipient_id, store=registry.store)
    removed = await registry.store.remove_contact(
        school_id,
        recipient_id,
        channel,
        _contact_changed(school_id, recipient_id, channel, registry.now, removed=True),
        by=caller.subject,
        reason="removed on request",
    )
    if not removed:
        raise NotFoundError(f"no {channel} contact registered")
    await _after_hand_overs(school_id, registry, recipient_ids=(recipient_id,))


async def erase_contacts_after_withdrawal(*, keep: timedelta, registry: Registry) -> int:
    """152-FZ art. 21 part 5: once a consent is withdrawn (or refused), the contact data it
    covered is destroyed when `keep` has passed, unless another consent still in force needs
    it. The consent documents and the history, the proof of what was agreed, stay."""
    erased = 0
    store = registry.store
    for school_id, recipient_id in sorted(await store.withdrawn_before(registry.now - keep)):
        if await store.has_consent_in_force(school_id, recipient_id):
            continue
        for channel in await store.contact_channels(school_id, recipient_id):
            event = _contact_changed(school_id, recipient_id, channel, registry.now, removed=True)
            erased += await store.remove_contact(
                school_id,
                recipient_id,
                channel,
                event,
                by="retention",
                reason="consent withdrawn: erased after the retention period",
            )
    return erased


def _contact_changed(
    school_id: str,
    recipient_id: str,
    channel: str,
    now: datetime,
    *,
    removed: bool,
    digest: str | None = None,
) -> Envelope[Any]:
    return ContactChanged.new(
        ContactChangedPayload(
            recipient_id=recipient_id,
            school_id=school_id,
            channel=channel,
            removed=removed,
            effective_at=now,
            address_digest=digest,
        ),
        producer=PRODUCER,
    )


async def save_preferences(
    school_id: str,
    recipient_id: str,
    body: PreferencesIn,
    caller: Principal,
    *,
    registry: Registry,
) -> None:
    recipient = await may_act_for(caller, school_id, recipient_id, store=registry.store)
    channels = {category: sorted(chosen) for category, chosen in DEFAULT_CHANNELS.items()}
    channels.update({category: sorted(set(chosen)) for category, chosen in body.channels.items()})
    document = {
        "channels": channels,
        "paper_only_reason": body.paper_only_reason,
        "sms_quiet_hours": body.sms_quiet_hours.model_dump(mode="json"),
    }
    event = PreferencesChanged.new(
        PreferencesChangedPayload(
            recipient_id=recipient_id,
            school_id=school_id,
            paper_only=body.paper_only_reason is not None,
            student_ids=recipient.student_ids,
            effective_at=registry.now,
        ),
        producer=PRODUCER,
    )
    await registry.store.save_preferences(
        school_id, recipient_id, document, event, by=caller.subject
    )
    await _after_hand_overs(school_id, registry, recipient_ids=(recipient_id,))


def trusted_certificate(pem: str) -> x509.Certificate:
    """A certificate a school may trust: readable, and a certificate authority."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise InvalidFieldError(("body", "pem"), f"not a PEM certificate: {error}") from None
    if not is_certificate_authority(certificate):
        raise InvalidFieldError(("body", "pem"), "not a certificate authority (basicConstraints)")
    return certificate


async def _provenance(
    school_id: str,
    proof: WrittenProof | ElectronicProof,
    caller: Principal,
    recipient: Recipient,
    registry: Registry,
) -> dict[str, Any]:
    """What we keep as proof; an electronic signature is verified first (422 if unsound)."""
    if isinstance(proof, WrittenProof):
        if caller.role == "parent":
            raise ForbiddenError("only the school's staff register paper documents")
        return {**proof.model_dump(mode="json"), "summary": proof.summary()}
    try:
        document = base64.b64decode(proof.document_base64, validate=True)
        signature = base64.b64decode(proof.signature_base64, validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise InvalidFieldError(
            ("body", "proof"), "document and signature must be base64"
        ) from None
    trusted = await registry.store.trusted_certificates(school_id)
    try:
        signer = verify_detached(document, signature, trusted, registry.now)
    except SignatureError as error:
        raise InvalidFieldError(("body", "proof", "signature_base64"), str(error)) from None
    identity = await registry.store.signature_policy(school_id)
    mismatch = names_recipient(
        signer, name=recipient.name, snils=recipient.snils, identity=identity
    )
    if mismatch is not None:
        raise InvalidFieldError(("body", "proof", "signature_base64"), mismatch)
    return {
        **proof.model_dump(mode="json"),
        "signer": signer.subject,
        "issuer": signer.issuer,
        "serial_number": str(signer.serial_number),
        "verified_at": registry.now.isoformat(),
        "summary": f"electronic: signed by {signer.subject}",
    }


def normalised_address(channel: str, address: str) -> str:
    def invalid(reason: str) -> InvalidFieldError:
        return InvalidFieldError(("body", "address"), reason)

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
