"""The consent registry on MongoDB. Changes are appended to `history`, never overwritten there.

A consent, a contact or a preference document is written together with the event that tells the
other services (`services.shared.outbox`): a change accepted while Kafka is away is published
when it returns, and a crash between the write and the publish loses nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography import x509
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas import Envelope
from schemas.notify import QuietHours
from services.consent.domain import (
    DEFAULT_CHANNELS,
    Consent,
    Contact,
    Decision,
    Preferences,
    Recipient,
    RecipientFile,
)
from services.shared.mongo import Document, insert_new
from services.shared.outbox import MongoOutbox, PendingRecord, pending_fields, with_pending
from services.shared.pages import find_page
from services.shared.retention import RetentionRule


class MongoConsentRegistry:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        on_written: Callable[[list[PendingRecord]], None] | None = None,
    ) -> None:
        """`on_written`: told what each write queued, for the relay to publish without reading
        it back."""
        self._on_written = on_written or (lambda records: None)
        self._recipients = db["recipients"]
        self._consents = db["consents"]
        self._contacts = db["contacts"]
        self._preferences = db["preferences"]
        self._history = db["history"]
        self._decisions = db["decisions"]
        self._trusted = db["trusted_certificates"]
        self._policies = db["signature_policies"]
        self._hand_overs = db["hand_overs"]
        # FerretDB can lose one of two concurrent updates of a document: this process's
        # updates of documents with an outbox take turns (see services.shared.outbox).
        self._updating = asyncio.Lock()
        self.outbox = MongoOutbox(
            (self._consents, self._contacts, self._preferences), updating=self._updating
        )

    async def ensure_indexes(self) -> None:
        await self.outbox.ensure_indexes()
        await self._recipients.create_index([("school_id", 1), ("student_ids", 1)])
        await self._consents.create_index([("school_id", 1), ("student_id", 1)])
        await self._consents.create_index([("school_id", 1), ("recipient_id", 1)])
        await self._contacts.create_index([("school_id", 1), ("recipient_id", 1)])
        await self._preferences.create_index([("school_id", 1), ("recipient_id", 1)])
        await self._history.create_index([("school_id", 1), ("recipient_id", 1), ("at", 1)])
        await self._decisions.create_index([("school_id", 1), ("student_id", 1)])
        await self._hand_overs.create_index([("school_id", 1), ("subjects", 1)])

    # Writes: each also appends to the history.

    async def save_recipient(self, recipient: Recipient, *, by: str) -> None:
        doc = {**vars(recipient), "student_ids": list(recipient.student_ids)}
        await self._recipients.replace_one(
            {"_id": _id(recipient.school_id, recipient.recipient_id)}, doc, upsert=True
        )
        await self._append(recipient.school_id, recipient.recipient_id, by, "recipient saved", doc)

    async def save_consent(self, document: Document, event: Envelope[Any], *, by: str) -> bool:
        """Register a consent document with its event; False if its id is already taken."""
        key = _id(document["school_id"], document["consent_id"])
        try:
            await self._consents.insert_one(
                {
                    "_id": key,
                    **document,
                    "revoked_at": None,
                    "version": 1,
                    **pending_fields([event]),
                }
            )
        except DuplicateKeyError:
            return False
        self._on_written([PendingRecord(self._consents.name, key, 1, [event])])
        await self._append(
            document["school_id"], document["recipient_id"], by, "consent registered", document
        )
        return True

    async def consent(self, school_id: str, consent_id: str) -> Document | None:
        return await self._consents.find_one(
            {"_id": _id(school_id, consent_id)}, {"_id": 0, **_WITHOUT_OUTBOX}
        )

    async def revoke_consent(
        self,
        school_id: str,
        consent_id: str,
        event: Envelope[Any],
        *,
        at: datetime,
        by: str,
        reason: str | None,
    ) -> bool:
        """Revoke with its event; False if it was revoked already (the first revocation
        stands, and its event is the only one)."""
        key = _id(school_id, consent_id)
        update = {
            "$set": {"revoked_at": at, "revoked_by": by, "revocation_reason": reason},
            "$inc": {"version": 1},
        }
        async with self._updating:
            document = await self._consents.find_one_and_update(
                {"_id": key, "revoked_at": None},
                with_pending(update, [event]),
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            return False
        self._on_written([PendingRecord(self._consents.name, key, document["version"], [event])])
        await self._append(
            school_id,
            document["recipient_id"],
            by,
            "consent revoked",
            {"consent_id": consent_id, "reason": reason, "at": at},
        )
        return True

    async def save_contact(
        self,
        school_id: str,
        recipient_id: str,
        channel: str,
        document: Document,
        event: Envelope[Any],
        *,
        by: str,
    ) -> None:
        await self._upsert_with_event(
            self._contacts,
            _id(school_id, recipient_id, channel),
            {"school_id": school_id, "recipient_id": recipient_id, "channel": channel, **document},
            event,
        )
        # The history keeps the proof, not the address itself: the record says what changed.
        proof = {key: value for key, value in document.items() if key != "address"}
        await self._append(school_id, recipient_id, by, f"{channel} contact saved", proof)

    async def remove_contact(
        self,
        school_id: str,
        recipient_id: str,
        channel: str,
        event: Envelope[Any],
        *,
        by: str,
        reason: str,
    ) -> bool:
        """Erase the address (the proof stays in the history); False if there was none."""
        key = _id(school_id, recipient_id, channel)
        update = {
            "$set": {"address": None, "removed": True, "removed_at": datetime.now(UTC)},
            "$inc": {"version": 1},
        }
        async with self._updating:
            document = await self._contacts.find_one_and_update(
                {"_id": key, "removed": {"$ne": True}},
                with_pending(update, [event]),
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            return False
        self._on_written([PendingRecord(self._contacts.name, key, document["version"], [event])])
        await self._append(
            school_id, recipient_id, by, f"{channel} contact removed", {"reason": reason}
        )
        return True

    async def save_preferences(
        self,
        school_id: str,
        recipient_id: str,
        document: Document,
        event: Envelope[Any],
        *,
        by: str,
    ) -> None:
        await self._upsert_with_event(
            self._preferences,
            _id(school_id, recipient_id),
            {"school_id": school_id, "recipient_id": recipient_id, **document},
            event,
        )
        await self._append(school_id, recipient_id, by, "preferences saved", document)

    # (FerretDB's findAndModify takes no projection: whole documents come back.)
    async def _upsert_with_event(
        self, collection: Any, key: str, fields: Document, event: Envelope[Any]
    ) -> None:
        update = {"$set": {**fields, "removed": False}, "$inc": {"version": 1}}
        async with self._updating:
            document = await collection.find_one_and_update(
                {"_id": key},
                with_pending(update, [event]),
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        self._on_written([PendingRecord(collection.name, key, document["version"], [event])])

    async def save_trusted_certificate(
        self, school_id: str, name: str, pem: str, *, by: str
    ) -> None:
        await self._trusted.replace_one(
            {"_id": _id(school_id, name)},
            {"school_id": school_id, "name": name, "pem": pem, "by": by, "at": datetime.now(UTC)},
            upsert=True,
        )

    # Retention (152-FZ art. 21): what the purge job reads.

    # Hand-over windows (see `domain.HAND_OVER_WINDOW`): a few seconds each, one document per
    # question of the notifier; those ended are forgotten every few seconds, so the
    # collection stays small.

    async def hold_hand_overs(self, school_id: str, subjects: list[str], until: datetime) -> None:
        await self._hand_overs.insert_one(
            {"school_id": school_id, "subjects": subjects, "until": until}
        )

    async def hand_overs_until(self, school_id: str, subjects: list[str]) -> datetime | None:
        """When the last window holding any of `subjects` still ends (None: none is open)."""
        query = {"school_id": school_id, "subjects": {"$in": subjects}}
        ends = [doc["until"] async for doc in self._hand_overs.find(query, {"until": 1})]
        return max(ends, default=None)

    async def forget_hand_overs(self, ended_before: datetime) -> int:
        result = await self._hand_overs.delete_many({"until": {"$lt": ended_before}})
        return result.deleted_count

    def retention_rules(self, *, decisions: timedelta) -> list[RetentionRule]:
        return [RetentionRule(self._decisions, "decided_at", decisions)]

    async def withdrawn_before(self, cutoff: datetime) -> set[tuple[str, str]]:
        """(school, recipient) of consents revoked, or refusals registered, before `cutoff`."""
        found: set[tuple[str, str]] = set()
        for query in (
            {"revoked_at": {"$lt": cutoff}},
            {"decision": "refused", "registered_at": {"$lt": cutoff}},
        ):
            async for doc in self._consents.find(query, {"school_id": 1, "recipient_id": 1}):
                found.add((doc["school_id"], doc["recipient_id"]))
        return found

    async def has_consent_in_force(self, school_id: str, recipient_id: str) -> bool:
        query = {"school_id": school_id, "recipient_id": recipient_id, "decision": "granted"}
        async for doc in self._consents.find(query, {"revoked_at": 1}):
            if doc.get("revoked_at") is None:
                return True
        return False

    async def contact_channels(self, school_id: str, recipient_id: str) -> list[str]:
        """The channels with an address still kept."""
        query = {"school_id": school_id, "recipient_id": recipient_id}
        return [
            doc["channel"]
            async for doc in self._contacts.find(query, {"channel": 1, "removed": 1})
            if not doc.get("removed")
        ]

    async def save_signature_policy(self, school_id: str, identity: str, *, by: str) -> None:
        await self._policies.replace_one(
            {"_id": school_id},
            {"signer_identity": identity, "by": by, "at": datetime.now(UTC)},
            upsert=True,
        )

    async def signature_policy(self, school_id: str) -> str:
        document = await self._policies.find_one({"_id": school_id})
        return document["signer_identity"] if document else "full_name"

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

    async def history(
        self, school_id: str, recipient_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[Document], str | None]:
        """A page of the history, oldest first, and the cursor of the next page."""
        query = {"school_id": school_id, "recipient_id": recipient_id}
        return await find_page(self._history, query, order="at", limit=limit, after=after)

    # What a recipient sees of their own file (the personal account's settings page).

    async def consents_of(self, school_id: str, recipient_id: str) -> list[Document]:
        query = {"school_id": school_id, "recipient_id": recipient_id}
        documents = [doc async for doc in self._consents.find(query, _WITHOUT_OUTBOX)]
        return sorted(documents, key=lambda doc: doc["registered_at"], reverse=True)

    async def contacts_of(self, school_id: str, recipient_id: str) -> list[Document]:
        query = {"school_id": school_id, "recipient_id": recipient_id}
        documents = [doc async for doc in self._contacts.find(query, _WITHOUT_OUTBOX)]
        return sorted(
            (doc for doc in documents if not doc.get("removed")), key=lambda doc: doc["channel"]
        )

    async def preferences_of(self, school_id: str, recipient_id: str) -> Preferences:
        document = await self._preferences.find_one({"_id": _id(school_id, recipient_id)})
        return _preferences(document) if document else Preferences()

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
                if doc.get("removed"):
                    continue
                contacts[doc["recipient_id"]][doc["channel"]] = Contact(
                    doc["channel"],
                    doc["address"],
                    doc["provenance"]["summary"],
                    doc.get("registered_at"),
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
        self,
        school_id: str,
        student_id: str,
        event_id: str | None,
        *,
        limit: int,
        after: str | None = None,
    ) -> tuple[list[Document], str | None]:
        """A page of a student's decisions, oldest first, and the next page's cursor."""
        query: Document = {"school_id": school_id, "student_id": student_id}
        if event_id:
            query["event_id"] = event_id
        return await find_page(self._decisions, query, order="decided_at", limit=limit, after=after)


# The outbox's bookkeeping is not part of what the API shows.
_WITHOUT_OUTBOX = {"pending_events": 0, "outbox": 0, "outbox_seq": 0}


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
    # A category added after the parent saved their choice starts at its default.
    return Preferences(
        channels={
            **DEFAULT_CHANNELS,
            **{category: frozenset(channels) for category, channels in doc["channels"].items()},
        },
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
    payload = event.payload
    # A class's fact: kept under the recipient's first child it concerned, naming them all.
    students = decision.student_ids or (
        (payload.student_id,) if hasattr(payload, "student_id") else ()
    )
    return {
        "_id": f"{event.event_id}:{decision.recipient_id}:{decision.channel}",
        "school_id": payload.school_id,
        "student_id": students[0] if students else None,
        "student_ids": list(students),
        "class_id": getattr(payload, "class_id", None),
        "event_id": str(event.event_id),
        "event_type": event.type,
        "recipient_id": decision.recipient_id,
        "channel": decision.channel,
        "notify": decision.notify,
        "reason": decision.reason,
        "decided_at": at,
    }
