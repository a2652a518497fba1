"""The consent registry on MongoDB. Changes are appended to `history`, never overwritten there."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509
from pymongo.asynchronous.database import AsyncDatabase

from schemas import Envelope
from schemas.notify import QuietHours
from services.consent.domain import (
    Consent,
    Contact,
    Decision,
    Preferences,
    Recipient,
    RecipientFile,
)
from services.shared.mongo import Document, insert_new


class MongoConsentRegistry:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._recipients = db["recipients"]
        self._consents = db["consents"]
        self._contacts = db["contacts"]
        self._preferences = db["preferences"]
        self._history = db["history"]
        self._decisions = db["decisions"]
        self._trusted = db["trusted_certificates"]

    async def ensure_indexes(self) -> None:
        await self._recipients.create_index([("school_id", 1), ("student_ids", 1)])
        await self._consents.create_index([("school_id", 1), ("student_id", 1)])
        await self._contacts.create_index([("school_id", 1), ("recipient_id", 1)])
        await self._preferences.create_index([("school_id", 1), ("recipient_id", 1)])
        await self._history.create_index([("school_id", 1), ("recipient_id", 1), ("at", 1)])
        await self._decisions.create_index([("school_id", 1), ("student_id", 1)])

    # Writes: each also appends to the history.

    async def save_recipient(self, recipient: Recipient, *, by: str) -> None:
        doc = {**vars(recipient), "student_ids": list(recipient.student_ids)}
        await self._recipients.replace_one(
            {"_id": _id(recipient.school_id, recipient.recipient_id)}, doc, upsert=True
        )
        await self._append(recipient.school_id, recipient.recipient_id, by, "recipient saved", doc)

    async def save_consent(self, document: Document, *, by: str) -> bool:
        """Register a consent document; False if its id is already taken."""
        key = _id(document["school_id"], document["consent_id"])
        existing = await self._consents.find_one({"_id": key})
        if existing is not None:
            return False
        await self._consents.insert_one({"_id": key, **document, "revoked_at": None})
        await self._append(
            document["school_id"], document["recipient_id"], by, "consent registered", document
        )
        return True

    async def consent(self, school_id: str, consent_id: str) -> Document | None:
        return await self._consents.find_one({"_id": _id(school_id, consent_id)}, {"_id": 0})

    async def revoke_consent(
        self, school_id: str, consent_id: str, *, at: datetime, by: str, reason: str | None
    ) -> Document | None:
        document = await self._consents.find_one_and_update(
            {"_id": _id(school_id, consent_id)},
            {"$set": {"revoked_at": at, "revoked_by": by, "revocation_reason": reason}},
        )
        if document is not None and document.get("revoked_at") is None:
            await self._append(
                school_id,
                document["recipient_id"],
                by,
                "consent revoked",
                {"consent_id": consent_id, "reason": reason, "at": at},
            )
        return document

    async def save_contact(
        self, school_id: str, recipient_id: str, channel: str, document: Document, *, by: str
    ) -> None:
        await self._contacts.replace_one(
            {"_id": _id(school_id, recipient_id, channel)},
            {"school_id": school_id, "recipient_id": recipient_id, "channel": channel, **document},
            upsert=True,
        )
        # The history keeps the proof, not the address itself: the record says what changed.
        proof = {key: value for key, value in document.items() if key != "address"}
        await self._append(school_id, recipient_id, by, f"{channel} contact saved", proof)

    async def save_preferences(
        self, school_id: str, recipient_id: str, document: Document, *, by: str
    ) -> None:
        await self._preferences.replace_one(
            {"_id": _id(school_id, recipient_id)},
            {"school_id": school_id, "recipient_id": recipient_id, **document},
            upsert=True,
        )
        await self._append(school_id, recipient_id, by, "preferences saved", document)

    async def save_trusted_certificate(
        self, school_id: str, name: str, pem: str, *, by: str
    ) -> None:
        await self._trusted.replace_one(
            {"_id": _id(school_id, name)},
            {"school_id": school_id, "name": name, "pem": pem, "by": by, "at": datetime.now(UTC)},
            upsert=True,
        )

    async def trusted_certificates(self, school_id: str) -> list[x509.Certificate]:
        cursor = self._trusted.find({"school_id": school_id})
        return [x509.load_pem_x509_certificate(doc["pem"].encode()) async for doc in cursor]

    async def recipient(self, school_id: str, recipient_id: str) -> Recipient | None:
        doc = await self._recipients.find_one({"_id": _id(school_id, recipient_id)}, {"_id": 0})
        return _recipient(doc) if doc else None

    async def _append(
        self, school_id: str, recipient_id: str, by: str, action: str, details: Document
    ) -> None:
        await self._history.insert_one(
            {
                "school_id": school_id,
                "recipient_id": recipient_id,
                "at": datetime.now(UTC),
                "by": by,
                "action": action,
                "details": details,
            }
        )

    async def history(self, school_id: str, recipient_id: str) -> list[Document]:
        cursor = self._history.find(
            {"school_id": school_id, "recipient_id": recipient_id}, {"_id": 0}
        ).sort("at", 1)
        return [doc async for doc in cursor]

    # The filter's reads.

    async def files_for_students(
        self, students: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list[RecipientFile]]:
        """Everything the filter needs about each (school, student)'s recipients: four queries
        per school, whatever the number of students."""
        by_school: dict[str, set[str]] = defaultdict(set)
        for school_id, student_id in students:
            by_school[school_id].add(student_id)
        files: dict[tuple[str, str], list[RecipientFile]] = {}
        for school_id, student_ids in by_school.items():
            files.update(await self._files_in_school(school_id, sorted(student_ids)))
        return files

    async def _files_in_school(
        self, school_id: str, student_ids: list[str]
    ) -> dict[tuple[str, str], list[RecipientFile]]:
        recipients = [
            _recipient(doc)
            async for doc in self._recipients.find(
                {"school_id": school_id, "student_ids": {"$in": student_ids}}, {"_id": 0}
            )
        ]
        consents = [
            _consent(doc)
            async for doc in self._consents.find(
                {"school_id": school_id, "student_id": {"$in": student_ids}}
            )
        ]
        consents.sort(key=lambda consent: consent.registered_at)
        ids = sorted({recipient.recipient_id for recipient in recipients})
        contacts: dict[str, dict[str, Contact]] = defaultdict(dict)
        preferences: dict[str, Preferences] = {}
        if ids:
            mine = {"school_id": school_id, "recipient_id": {"$in": ids}}
            async for doc in self._contacts.find(mine):
                contacts[doc["recipient_id"]][doc["channel"]] = Contact(
                    doc["channel"], doc["address"], doc["provenance"]["summary"]
                )
            async for doc in self._preferences.find(mine):
                preferences[doc["recipient_id"]] = _preferences(doc)
        recipients.sort(key=lambda recipient: recipient.recipient_id)
        files: dict[tuple[str, str], list[RecipientFile]] = {}
        for student_id in student_ids:
            about = [consent for consent in consents if consent.student_id == student_id]
            files[school_id, student_id] = [
                RecipientFile(
                    recipient=recipient,
                    consent=_governing_consent(recipient, about),
                    contacts=contacts.get(recipient.recipient_id, {}),
                    preferences=preferences.get(recipient.recipient_id, Preferences()),
                )
                for recipient in recipients
                if student_id in recipient.student_ids
            ]
        return files

    async def record_decisions(self, decided: list[tuple[Envelope[Any], list[Decision]]]) -> None:
        """Every decision of a batch of events, in one insert; a redelivered event's
        decisions stand as they were."""
        now = datetime.now(UTC)
        documents = [
            decision_document(event, d, now) for event, decisions in decided for d in decisions
        ]
        await insert_new(self._decisions, documents)

    async def decisions(
        self, school_id: str, student_id: str, event_id: str | None
    ) -> list[Document]:
        query: Document = {"school_id": school_id, "student_id": student_id}
        if event_id:
            query["event_id"] = event_id
        cursor = self._decisions.find(query, {"_id": 0}).sort(
            [("decided_at", 1), ("recipient_id", 1)]
        )
        return [doc async for doc in cursor]


def _id(*parts: str) -> str:
    return "/".join(parts)


def _recipient(doc: Document) -> Recipient:
    return Recipient(**{**doc, "student_ids": tuple(doc["student_ids"])})


def _consent(doc: Document) -> Consent:
    return Consent(
        consent_id=doc["consent_id"],
        school_id=doc["school_id"],
        recipient_id=doc["recipient_id"],
        student_id=doc["student_id"],
        decision=doc["decision"],
        valid_from=_date(doc["valid_from"]),
        valid_until=_date(doc["valid_until"]) if doc.get("valid_until") else None,
        registered_at=doc["registered_at"],
        revoked_at=doc.get("revoked_at"),
    )


def _date(value: Any) -> Any:

    return (
        value
        if isinstance(value, date) and not isinstance(value, datetime)
        else date.fromisoformat(str(value)[:10])
    )


def _preferences(doc: Document) -> Preferences:
    return Preferences(
        channels={category: frozenset(channels) for category, channels in doc["channels"].items()},
        paper_only_reason=doc.get("paper_only_reason"),
        sms_quiet_hours=QuietHours.model_validate(doc.get("sms_quiet_hours") or {}),
    )


def _governing_consent(recipient: Recipient, consents: list[Consent]) -> Consent | None:
    """The latest registered consent that speaks for this recipient about this student: their
    own, or for a student recipient any consent about them (a parent acts for a minor)."""
    relevant = [
        consent
        for consent in consents
        if recipient.kind == "student" or consent.recipient_id == recipient.recipient_id
    ]
    return relevant[-1] if relevant else None


def decision_document(event: Envelope[Any], decision: Decision, at: datetime) -> Document:
    """How a decision is stored: keyed by event, recipient and channel, so a redelivered
    event's decisions stand as they were."""
    return {
        "_id": f"{event.event_id}:{decision.recipient_id}:{decision.channel}",
        "school_id": event.payload.school_id,
        "student_id": event.payload.student_id,
        "event_id": str(event.event_id),
        "event_type": event.type,
        "recipient_id": decision.recipient_id,
        "channel": decision.channel,
        "notify": decision.notify,
        "reason": decision.reason,
        "decided_at": at,
    }
