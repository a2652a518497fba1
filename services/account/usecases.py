"""Signing in and out, and what the account learns from Kafka. The routes call these; the
rules are in `domain.py`; the family read model's contract is in `views.py`."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from schemas import Envelope
from schemas.consent import (
    ConsentChange,
    ConsentDecidedPayload,
    ConsentRevokedPayload,
    ContactChangedPayload,
)
from schemas.journal import ReferenceEvent, StudentChanged
from schemas.notify import NotificationRequested, NotificationRequestedPayload, SignInCodePayload
from services.account import domain
from services.account.domain import (
    ACTIVATION_LIFETIME,
    ACTIVATIONS_PER_ADDRESS,
    CODE_LIFETIME,
    FAILURES_BEFORE_LOCKOUT,
    PER_ADDRESS,
    PER_CONTACT,
    PRODUCER,
    Decision,
    Limit,
)
from services.account.registry import ConsentRegistry
from services.account.store import MongoAccountStore
from services.account.views import Child, FamilyModule, FamilyViews, Identity, Viewer
from services.shared.auth import Principal, Role
from services.shared.contacts import channel_of, contact_digest, normalised_contact

__all__ = ["FamilyModule", "FamilyViews"]  # the family read model's contract, re-exported

STAFF_ROLES: tuple[Role, ...] = ("admin", "staff")
# Sessions' last-seen time is written at most this often (one write per page is wasteful).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Ports:
    store: MongoAccountStore
    registry: ConsentRegistry
    now: datetime
    secret_key: str
    digest_key: str
    unsubscribe_key: str
    session_idle: timedelta
    session_absolute: timedelta


@dataclass(frozen=True)
class Session:
    session_hash: str
    identities: tuple[Identity, ...]
    csrf_token: str


@dataclass(frozen=True)
class NewSession:
    session_id: str  # goes into the cookie only; the store keeps its hash
    session: Session


class RateLimitedError(Exception):
    """Too many requests: 429, the same for a known contact and an unknown one."""


# What consent and the journal tell.


async def apply_consent_changes(events: Sequence[ConsentChange], store: MongoAccountStore) -> None:
    """Contacts by digest, and each recipient's decisions per student (one partition per
    recipient keeps a recipient's changes in order)."""
    for event in events:
        p = event.payload
        if isinstance(p, ContactChangedPayload):
            digest = None if p.removed else p.address_digest
            await store.save_contact(p.school_id, p.recipient_id, p.channel, digest, p.effective_at)
        elif isinstance(p, ConsentDecidedPayload):
            by_student = p.recipient_kind == "student"
            decision = Decision(p.student_id, p.decision, p.effective_at, p.valid_until, by_student)
            await store.save_decision(p.school_id, p.recipient_id, decision)
        elif isinstance(p, ConsentRevokedPayload):
            decision = Decision(p.student_id, "revoked", p.effective_at)
            await store.save_decision(p.school_id, p.recipient_id, decision)
        # PreferencesChanged: nothing to keep yet (the settings page asks consent itself).


async def apply_reference(events: Sequence[ReferenceEvent], store: MongoAccountStore) -> None:
    """Students' names, for the children list."""
    for event in events:
        if isinstance(event, StudentChanged):
            p = event.payload
            await store.save_student(
                p.school_id,
                p.student_id,
                {
                    "name": p.name,
                    "class_name": p.class_name,
                    "education_level": p.education_level,
                },
            )


# Rate limits.


async def _within(key: str, limit: Limit, ports: Ports) -> bool:
    return domain.within_limit(await ports.store.marks(key), ports.now, limit)


async def _mark(key: str, limit: Limit, ports: Ports) -> None:
    await ports.store.add_mark(key, ports.now, limit.window)


def _contact_key(typed: str, ports: Ports) -> tuple[str, str, str | None]:
    """(channel, the key its rate limits count under, its digest or None if not an address)."""
    channel = channel_of(typed)
    digest = contact_digest(channel, typed, ports.digest_key)
    # Something that is not an address still counts, under a key of its own.
    key = digest or domain.secret_hash(f"typed:{typed.strip().lower()}", ports.secret_key)
    return channel, key, digest


# Sign-in with a one-time code.


async def request_code(typed: str, client: str, *, ports: Ports) -> str:
    """A challenge for whatever was typed; a code goes out only if it is a contact the
    school holds with proof. The answer (the challenge id) is the same either way, and so
    is the work done: a challenge is stored in both cases."""
    channel, key, digest = _contact_key(typed, ports)
    contact, address = f"contact:{key}", f"ip:{client}"
    if not (
        await _within(contact, PER_CONTACT, ports)
        and await _within(address, PER_ADDRESS, ports)
        and await _within(f"fail:{key}", FAILURES_BEFORE_LOCKOUT, ports)
    ):
        raise RateLimitedError
    await _mark(contact, PER_CONTACT, ports)
    await _mark(address, PER_ADDRESS, ports)
    identities = await ports.store.identities_of(digest) if digest else []
    # The first identity's children key the notification; looked up for an unknown contact
    # too, so both answers cost the same.
    first = identities[0] if identities else Identity("-", "-")
    children = await _visible_students(first, ports)
    code = domain.new_sign_in_code()
    challenge_id = secrets.token_urlsafe(24)
    expires_at = ports.now + CODE_LIFETIME
    events: list[Envelope[Any]] = []
    normalised = normalised_contact(channel, typed)
    if identities and normalised is not None:
        # The child's id keys the request; someone with no child to see yet is keyed by self.
        student_id = children[0] if children else first.recipient_id
        events.append(_code_notification(first, student_id, channel, normalised, code, ports))
    else:
        code = secrets.token_hex(16)  # a code no one knows: the challenge can never pass
    await ports.store.add_challenge(
        challenge_id,
        {
            "contact_key": key,
            "identities": [vars(i) for i in identities],
            "code_hash": domain.secret_hash(code, ports.secret_key),
            "attempts": 0,
            "used": False,
            "created_at": ports.now,
            "expires_at": expires_at,
        },
        events,
    )
    return challenge_id


def _code_notification(
    identity: Identity, student_id: str, channel: str, address: str, code: str, ports: Ports
) -> NotificationRequested:
    source = uuid.uuid4()
    return NotificationRequested.new(
        NotificationRequestedPayload(
            student_id=student_id,
            dedupe_key=f"sign-in/{source}/{channel}",
            source_event_id=source,
            recipient_id=identity.recipient_id,
            recipient_name="пользователь электронного дневника",
            channel="email" if channel == "email" else "sms",
            address=address,
            category="account",
            priority="urgent",
            content=SignInCodePayload(
                student_id=student_id,
                school_id=identity.school_id,
                code=code,
                expires_at=ports.now + CODE_LIFETIME,
            ),
        ),
        producer=PRODUCER,
    )


CodeRefusal = Literal["wrong", "expired", "dead", "locked"]


async def enter_code(
    challenge_id: str, typed: str, client: str, *, ports: Ports
) -> NewSession | CodeRefusal:
    """A session for the right code; otherwise why not (the page words each one)."""
    if not await _within(f"ip:{client}", PER_ADDRESS, ports):
        raise RateLimitedError
    found = await ports.store.challenge(challenge_id)
    if found is None:
        return "expired"
    state, document = found
    fail_key = f"fail:{document['contact_key']}"
    if not await _within(fail_key, FAILURES_BEFORE_LOCKOUT, ports):
        return "locked"
    verdict, after = domain.check_code(state, typed, now=ports.now, key=ports.secret_key)
    if verdict in ("wrong", "dead") and after != state:
        await _mark(fail_key, FAILURES_BEFORE_LOCKOUT, ports)
    if after != state and not await ports.store.update_challenge(challenge_id, state, after):
        return "dead" if verdict == "accepted" else verdict  # another request used it first
    if verdict != "accepted":
        return verdict
    identities = tuple(Identity(**i) for i in document["identities"])
    return await start_session(identities, "code", ports=ports)


# Activation codes, printed by the school.


async def issue_activation_code(
    school_id: str, recipient_id: str, caller: Principal, *, ports: Ports
) -> tuple[str, datetime]:
    while True:
        code = domain.new_activation_code()
        expires_at = ports.now + ACTIVATION_LIFETIME
        fresh = await ports.store.add_activation(
            domain.secret_hash(code, ports.secret_key),
            {
                "school_id": school_id,
                "recipient_id": recipient_id,
                "issued_by": caller.subject,
                "issued_at": ports.now,
                "expires_at": expires_at,
                "used_at": None,
            },
        )
        if fresh:
            return code, expires_at


async def activate(typed: str, client: str, *, ports: Ports) -> NewSession | None:
    address = f"activation-ip:{client}"
    if not await _within(address, ACTIVATIONS_PER_ADDRESS, ports):
        raise RateLimitedError
    code = domain.normalised_activation_code(typed)
    spent = await ports.store.use_activation(domain.secret_hash(code, ports.secret_key), ports.now)
    if spent is None:
        await _mark(address, ACTIVATIONS_PER_ADDRESS, ports)  # only failures count
        return None
    identity = Identity(spent["school_id"], spent["recipient_id"])
    return await start_session((identity,), "activation_code", ports=ports)


# Sessions.


def _identity_key(identity: Identity) -> str:
    return f"{identity.school_id}/{identity.recipient_id}"


async def start_session(
    identities: tuple[Identity, ...], method: str, *, ports: Ports
) -> NewSession:
    session_id = domain.new_session_id()
    session = Session(
        domain.secret_hash(session_id, ports.secret_key),
        identities,
        secrets.token_urlsafe(32),
    )
    await ports.store.add_session(
        session.session_hash,
        {
            "identities": [vars(i) for i in identities],
            "identity_keys": [_identity_key(i) for i in identities],
            "csrf_token": session.csrf_token,
            "created_at": ports.now,
            "last_seen_at": ports.now,
            "expires_at": min(ports.now + ports.session_idle, ports.now + ports.session_absolute),
        },
    )
    for identity in identities:
        await ports.store.log_sign_in(identity, method, ports.now)
    return NewSession(session_id, session)


async def current_session(session_id: str | None, *, ports: Ports) -> Session | None:
    """The session the cookie names, if it is alive (its idle time restarts)."""
    if not session_id:
        return None
    session_hash = domain.secret_hash(session_id, ports.secret_key)
    found = await ports.store.session(session_hash)
    if found is None:
        return None
    times = domain.SessionTimes(found["created_at"], found["last_seen_at"])
    if not domain.session_alive(
        times, now=ports.now, idle=ports.session_idle, absolute=ports.session_absolute
    ):
        await ports.store.end_session(session_hash)
        return None
    if ports.now - times.last_seen_at >= TOUCH_EVERY:
        expires_at = min(ports.now + ports.session_idle, times.created_at + ports.session_absolute)
        await ports.store.touch_session(session_hash, ports.now, expires_at)
    identities = tuple(Identity(**i) for i in found["identities"])
    return Session(session_hash, identities, found["csrf_token"])


async def sign_out(session: Session, *, ports: Ports) -> None:
    await ports.store.end_session(session.session_hash)


async def sign_out_everywhere(session: Session, *, ports: Ports) -> int:
    """Every session of every identity this one speaks for (a lost phone, a shared PC)."""
    keys = [_identity_key(i) for i in session.identities]
    return await ports.store.end_sessions_of(keys)


async def viewer_of(session: Session, *, ports: Ports) -> Viewer:
    """The session's identities and the children they may see, named where the journal has."""
    keys: list[tuple[str, str]] = []
    for identity in session.identities:
        for student_id in await _visible_students(identity, ports):
            if (identity.school_id, student_id) not in keys:
                keys.append((identity.school_id, student_id))
    names = await ports.store.student_names(keys)
    children = tuple(Child(s, st, names.get((s, st))) for s, st in keys)
    return Viewer(session.identities, children)


async def _visible_students(identity: Identity, ports: Ports) -> list[str]:
    decisions = await ports.store.decisions_of(identity)
    own = sorted({d.student_id for d in decisions if d.by_student})
    levels = await ports.store.education_levels(identity.school_id, own) if own else {}
    return domain.visible_students(decisions, today=ports.now.date(), levels=levels)


def child_of(viewer: Viewer, school_id: str, student_id: str) -> Child | None:
    """The child, if this viewer may see them; None (a 404) otherwise, never telling whether
    the child exists."""
    return next(
        (c for c in viewer.children if (c.school_id, c.student_id) == (school_id, student_id)),
        None,
    )
