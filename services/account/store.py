"""The account's own database: what it learned from consent and the journal (contacts by
digest, consent decisions, students' names), and its own state (code challenges, rate-limit
marks, sessions, activation codes, the sign-in log).

Every key carries the school. A code challenge is written together with the notification
that carries its code (`services.shared.outbox`): the address is in the database only until
the relay has published it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas import Envelope
from services.account.domain import CodeChallenge, Decision
from services.account.views import Identity
from services.shared.mongo import Document
from services.shared.outbox import MongoOutbox, PendingRecord, pending_fields
from services.shared.pages import find_page
from services.shared.retention import RetentionRule


def _key(*parts: str) -> str:
    return "/".join(parts)


class MongoAccountStore:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        on_written: Callable[[list[PendingRecord]], None] | None = None,
    ) -> None:
        self._on_written = on_written or (lambda records: None)
        self._contacts = db["contacts"]
        self._decisions = db["decisions"]
        self._students = db["students"]
        self._challenges = db["challenges"]
        self._marks = db["rate_marks"]
        self._sessions = db["sessions"]
        self._activations = db["activation_codes"]
        self._sign_ins = db["sign_ins"]
        self.outbox = MongoOutbox((self._challenges,), updating=asyncio.Lock())

    async def ensure_indexes(self) -> None:
        await self.outbox.ensure_indexes()
        await self._contacts.create_index([("digest", 1)])
        await self._decisions.create_index([("school_id", 1), ("recipient_id", 1)])
        await self._marks.create_index([("key", 1)])
        await self._sessions.create_index([("identity_keys", 1)])
        await self._sign_ins.create_index([("school_id", 1), ("at", -1)])

    def retention_rules(self) -> list[RetentionRule]:
        """What has no use once expired: challenges, rate-limit marks, sessions, codes."""
        return [
            RetentionRule(self._challenges, "expires_at", timedelta(0), {"outbox": None}),
            RetentionRule(self._marks, "expires_at", timedelta(0)),
            RetentionRule(self._sessions, "expires_at", timedelta(0)),
            RetentionRule(self._activations, "expires_at", timedelta(0)),
            # The sign-in log is kept for a year: a school answers "who looked, when".
            RetentionRule(self._sign_ins, "at", timedelta(days=365)),
        ]

    # What consent and the journal tell.

    async def save_contact(
        self, school_id: str, recipient_id: str, channel: str, digest: str | None, at: datetime
    ) -> None:
        key = _key(school_id, recipient_id, channel)
        known = await self._contacts.find_one({"_id": key})
        if known is not None and known["effective_at"] > at:
            return  # an older change arriving late
        if digest is None:
            await self._contacts.delete_one({"_id": key})
            return
        document = {
            "school_id": school_id,
            "recipient_id": recipient_id,
            "channel": channel,
            "digest": digest,
            "effective_at": at,
        }
        await self._contacts.replace_one({"_id": key}, document, upsert=True)

    async def identities_of(self, digest: str) -> list[Identity]:
        found = self._contacts.find({"digest": digest})
        return sorted({Identity(d["school_id"], d["recipient_id"]) async for d in found})

    async def save_decision(self, school_id: str, recipient_id: str, decision: Decision) -> None:
        key = _key(school_id, recipient_id, decision.student_id)
        known = await self._decisions.find_one({"_id": key})
        if known is not None and known["effective_at"] > decision.effective_at:
            return
        document = {
            "school_id": school_id,
            "recipient_id": recipient_id,
            "student_id": decision.student_id,
            "decision": decision.decision,
            "effective_at": decision.effective_at,
            "valid_until": decision.valid_until.isoformat() if decision.valid_until else None,
            "by_student": decision.by_student,
        }
        await self._decisions.replace_one({"_id": key}, document, upsert=True)

    async def decisions_of(self, identity: Identity) -> list[Decision]:
        found = self._decisions.find(
            {"school_id": identity.school_id, "recipient_id": identity.recipient_id}
        )
        return [
            Decision(
                d["student_id"],
                d["decision"],
                d["effective_at"],
                date.fromisoformat(d["valid_until"]) if d["valid_until"] else None,
                by_student=d.get("by_student", False),
            )
            async for d in found
        ]

    async def save_student(self, school_id: str, student_id: str, document: Document) -> None:
        await self._students.replace_one(
            {"_id": _key(school_id, student_id)},
            {"school_id": school_id, "student_id": student_id, **document},
            upsert=True,
        )

    async def education_levels(self, school_id: str, student_ids: Sequence[str]) -> dict[str, str]:
        levels = {}
        for student_id in student_ids:  # equality on _id: what FerretDB pushes down
            found = await self._students.find_one({"_id": _key(school_id, student_id)})
            if found is not None and found.get("education_level"):
                levels[student_id] = found["education_level"]
        return levels

    async def student_names(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        names = {}
        for school_id, student_id in keys:  # equality on _id: what FerretDB pushes down
            found = await self._students.find_one({"_id": _key(school_id, student_id)})
            if found is not None:
                names[school_id, student_id] = found["name"]
        return names

    # Rate limits: one document per event (never one counter updated concurrently).

    async def marks(self, key: str) -> list[datetime]:
        return [d["at"] async for d in self._marks.find({"key": key})]

    async def add_mark(self, key: str, at: datetime, keep: timedelta) -> None:
        await self._marks.insert_one(
            {"_id": uuid.uuid4().hex, "key": key, "at": at, "expires_at": at + keep}
        )

    # Code challenges.

    async def add_challenge(
        self, challenge_id: str, document: Document, events: Sequence[Envelope[Any]]
    ) -> None:
        """The challenge with its notification, in one write."""
        record = {"_id": challenge_id, "version": 1, **document}
        if events:
            record.update(pending_fields(events, lane="urgent"))
        await self._challenges.insert_one(record)
        if events:
            self._on_written(
                [PendingRecord(self._challenges.name, challenge_id, 1, list(events), "urgent")]
            )

    async def challenge(self, challenge_id: str) -> tuple[CodeChallenge, Document] | None:
        found = await self._challenges.find_one({"_id": challenge_id})
        if found is None:
            return None
        state = CodeChallenge(
            found["code_hash"], found["expires_at"], found["attempts"], found["used"]
        )
        return state, found

    async def update_challenge(
        self, challenge_id: str, before: CodeChallenge, after: CodeChallenge
    ) -> bool:
        """False if another request changed it first: the attempt (or the single use) was
        theirs, and this request's verdict does not count."""
        result = await self._challenges.update_one(
            {"_id": challenge_id, "attempts": before.attempts, "used": before.used},
            {"$set": {"attempts": after.attempts, "used": after.used}},
        )
        return result.modified_count == 1

    # Sessions, stored by the hash of their id.

    async def add_session(self, session_hash: str, document: Document) -> None:
        await self._sessions.insert_one({"_id": session_hash, **document})

    async def session(self, session_hash: str) -> Document | None:
        return await self._sessions.find_one({"_id": session_hash})

    async def touch_session(self, session_hash: str, at: datetime, expires_at: datetime) -> None:
        await self._sessions.update_one(
            {"_id": session_hash}, {"$set": {"last_seen_at": at, "expires_at": expires_at}}
        )

    async def end_session(self, session_hash: str) -> None:
        await self._sessions.delete_one({"_id": session_hash})

    async def end_sessions_of(self, identity_keys: Sequence[str]) -> int:
        ended = 0
        for key in identity_keys:
            ended += (await self._sessions.delete_many({"identity_keys": key})).deleted_count
        return ended

    # Activation codes, stored by their hash.

    async def add_activation(self, code_hash: str, document: Document) -> bool:
        try:
            await self._activations.insert_one({"_id": code_hash, **document})
        except DuplicateKeyError:
            return False
        return True

    async def use_activation(self, code_hash: str, now: datetime) -> Document | None:
        """The code's document, spent by this call; None if unknown, spent or expired."""
        found = await self._activations.find_one({"_id": code_hash})
        if found is None or found.get("used_at") is not None or found["expires_at"] <= now:
            return None
        result = await self._activations.update_one(
            {"_id": code_hash, "used_at": None}, {"$set": {"used_at": now}}
        )
        return found if result.modified_count == 1 else None

    # The sign-in log.

    async def log_sign_in(self, identity: Identity, method: str, at: datetime) -> None:
        await self._sign_ins.insert_one(
            {
                "_id": uuid.uuid4().hex,
                "school_id": identity.school_id,
                "recipient_id": identity.recipient_id,
                "method": method,
                "at": at,
            }
        )

    async def sign_ins(
        self, school_id: str, *, limit: int, after: str | None
    ) -> tuple[list[Document], str | None]:
        return await find_page(
            self._sign_ins,
            {"school_id": school_id},
            order="at",
            direction=-1,
            limit=limit,
            after=after,
        )
