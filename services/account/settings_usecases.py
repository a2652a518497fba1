"""What a person controls: their notification preferences, their consents and (to look at)
their contacts, all kept by the consent registry; and the one-click unsubscribe of a mailing.
The routes call these; the form's rules are in `preferences.py`."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.settings import RecipientSettings
from services.account.preferences import FormError, preferences_body, without_email
from services.account.registry import ConsentRegistry, RegistryRefusedError
from services.account.store import MongoAccountStore
from services.account.views import Identity, Viewer
from services.shared.unsubscribe import Unsubscribe, unsubscribe_of


@dataclass(frozen=True)
class SettingsView:
    files: list[tuple[Identity, RecipientSettings]]  # one per school the person is known in
    # The journal's names of the students their consents are about (also once revoked).
    student_names: dict[tuple[str, str], str]


async def settings_of(
    viewer: Viewer, *, registry: ConsentRegistry, store: MongoAccountStore
) -> SettingsView:
    files = await asyncio.gather(*(registry.settings(i) for i in viewer.identities))
    pairs = list(zip(viewer.identities, files, strict=True))
    students = {(i.school_id, c.student_id) for i, file in pairs for c in file.consents}
    return SettingsView(pairs, await store.student_names(sorted(students)))


def identity_in(viewer: Viewer, school_id: str) -> Identity | None:
    recipient_id = viewer.recipient_in(school_id)
    return Identity(school_id, recipient_id) if recipient_id else None


async def save_preferences(
    identity: Identity, form: Mapping[str, str], *, registry: ConsentRegistry
) -> FormError | None:
    current = await registry.settings(identity)
    body = preferences_body(form, channels_of(current))
    if isinstance(body, FormError):
        return body
    await registry.save_preferences(identity, body)
    return None


async def revoke_consent(identity: Identity, consent_id: str, *, registry: ConsentRegistry) -> bool:
    """False if no consent in force of theirs has that id (the page answers 404)."""
    current = await registry.settings(identity)
    if not any(c.consent_id == consent_id and c.in_force for c in current.consents):
        return False
    await registry.revoke(identity, consent_id, reason="отозвано в личном кабинете")
    return True


# What consent takes inline (base64): a signed page of text or a scan, and its signature.
MAX_DOCUMENT_BYTES = 1_400_000
MAX_SIGNATURE_BYTES = 140_000
REFUSALS = {
    "address": "Адрес или номер телефона указан неверно.",
    "signature_base64": "Подпись не прошла проверку: документ должен быть подписан вашей "
    "электронной подписью, сертификат которой выдан удостоверяющим центром, которому доверяет "
    "школа, и действует сегодня.",
}


async def hand_over_contact(
    identity: Identity,
    channel: str,
    address: str,
    document: bytes,
    signature: bytes,
    *,
    registry: ConsentRegistry,
) -> FormError | None:
    """A new e-mail or phone in a document signed with the person's electronic signature
    (clause 10); consent checks the signature and that it names them."""
    if channel not in ("email", "sms"):
        return FormError("channel", "Выберите, что вы меняете: почту или телефон.")
    if not 3 <= len(address.strip()) <= 254:
        return FormError("address", REFUSALS["address"])
    if not document or len(document) > MAX_DOCUMENT_BYTES:
        return FormError("document", "Приложите заявление (файл до 1,4 МБ).")
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        return FormError("signature", "Приложите файл подписи (.sig, до 140 КБ).")
    proof = {
        "form": "electronic",
        "document_base64": base64.b64encode(document).decode(),
        "signature_base64": base64.b64encode(signature).decode(),
    }
    try:
        await registry.save_contact(identity, channel, {"address": address.strip(), "proof": proof})
    except RegistryRefusedError as refused:
        message = REFUSALS.get(refused.field, REFUSALS["signature_base64"])
        return FormError(refused.field, message)
    return None


def unsubscribe_request(token: str, *, key: str) -> Unsubscribe | None:
    return unsubscribe_of(token[:500], key)


async def unsubscribe(what: Unsubscribe, *, registry: ConsentRegistry) -> None:
    """E-mail off for the category, every other choice kept; again changes nothing."""
    identity = Identity(what.school_id, what.recipient_id)
    current = await registry.settings(identity)
    if "email" not in channels_of(current).get(what.category, []):
        return
    await registry.save_preferences(identity, without_email(body_of(current), what.category))


def channels_of(current: RecipientSettings) -> dict[str, list[str]]:
    return {category: list(channels) for category, channels in current.channels.items()}


def body_of(current: RecipientSettings) -> dict[str, Any]:
    """The preferences body that changes nothing."""
    return {
        "channels": current.channels,
        "paper_only_reason": current.paper_only_reason,
        "sms_quiet_hours": current.sms_quiet_hours.model_dump(mode="json"),
    }
