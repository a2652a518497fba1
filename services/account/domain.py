"""The rules of signing in, pure: codes, their checks, rate limits, CSRF tokens, sessions,
and which children a person may see. No I/O: the clock and randomness come in as arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

PRODUCER = "account"

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
# An activation code is typed from paper: no 0/O, 1/I/L, 5/S, 8/B to confuse.
ACTIVATION_ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"
ACTIVATION_GROUPS = 3
ACTIVATION_GROUP_LENGTH = 4
ACTIVATION_LIFETIME = timedelta(days=30)
SESSION_ID_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class Limit:
    """At most `count` events per `window`."""

    count: int
    window: timedelta


# Code requests per contact and per network address; failed code checks per contact before
# it is locked out for the lockout's window.
PER_CONTACT = Limit(3, timedelta(minutes=15))
PER_ADDRESS = Limit(20, timedelta(hours=1))
FAILURES_BEFORE_LOCKOUT = Limit(10, timedelta(hours=1))
# Activation codes typed per network address (they are long: guessing needs far more).
ACTIVATIONS_PER_ADDRESS = Limit(10, timedelta(hours=1))


def within_limit(earlier: Iterable[datetime], now: datetime, limit: Limit) -> bool:
    """Whether one more event at `now` stays within `limit`, given the earlier ones."""
    recent = [at for at in earlier if now - limit.window < at <= now]
    return len(recent) < limit.count


def new_sign_in_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    return f"{randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_activation_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """`K7QM-3XWP-9DHA`: 12 characters of 27, about 57 bits."""
    groups = (
        "".join(choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_GROUP_LENGTH))
        for _ in range(ACTIVATION_GROUPS)
    )
    return "-".join(groups)


def normalised_activation_code(typed: str) -> str:
    """What a family typed, as it was issued: upper case, dashes and spaces ignored."""
    letters = "".join(c for c in typed.upper() if c.isalnum())
    return "-".join(
        letters[i : i + ACTIVATION_GROUP_LENGTH]
        for i in range(0, len(letters), ACTIVATION_GROUP_LENGTH)
    )


def secret_hash(secret: str, key: str) -> str:
    """What is stored of a code or a session id: keyed, so a copy of the database alone
    cannot try all million codes."""
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def new_session_id(token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    return base64.urlsafe_b64encode(token_bytes(SESSION_ID_BYTES)).decode().rstrip("=")


@dataclass(frozen=True)
class CodeChallenge:
    """A sign-in code as stored: its hash, and what has been tried."""

    code_hash: str
    expires_at: datetime
    attempts: int = 0
    used: bool = False


CodeVerdict = Literal["accepted", "wrong", "expired", "dead"]


def check_code(
    challenge: CodeChallenge, typed: str, *, now: datetime, key: str
) -> tuple[CodeVerdict, CodeChallenge]:
    """The verdict on a typed code, and the challenge after it. A code is good once, until
    it expires, and dies at its fifth wrong attempt (a million codes, five tries)."""
    if challenge.used or challenge.attempts >= CODE_MAX_ATTEMPTS:
        return "dead", challenge
    if now >= challenge.expires_at:
        return "expired", challenge
    typed = "".join(typed.split())
    if hmac.compare_digest(secret_hash(typed, key), challenge.code_hash):
        return "accepted", CodeChallenge(
            challenge.code_hash, challenge.expires_at, challenge.attempts, used=True
        )
    attempts = challenge.attempts + 1
    verdict: CodeVerdict = "dead" if attempts >= CODE_MAX_ATTEMPTS else "wrong"
    return verdict, CodeChallenge(challenge.code_hash, challenge.expires_at, attempts)


# CSRF. Before sign-in a form carries a token that must equal the signed cookie's (double
# submit); after, the session's own token.
def signed(value: str, key: str) -> str:
    mac = hmac.new(key.encode(), f"csrf:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsigned(token: str | None, key: str) -> str | None:
    """The value of a token `signed` made, or None if it was not made here."""
    if not token or "." not in token:
        return None
    value = token.rsplit(".", 1)[0]
    return value if hmac.compare_digest(signed(value, key), token) else None


def csrf_matches(expected: str | None, submitted: str | None) -> bool:
    return (
        bool(expected) and bool(submitted) and hmac.compare_digest(expected or "", submitted or "")
    )


@dataclass(frozen=True)
class SessionTimes:
    created_at: datetime
    last_seen_at: datetime


def session_alive(
    times: SessionTimes, *, now: datetime, idle: timedelta, absolute: timedelta
) -> bool:
    return now - times.last_seen_at < idle and now - times.created_at < absolute


@dataclass(frozen=True)
class CookieFlags:
    http_only: bool
    secure: bool
    same_site: Literal["lax", "strict"]
    path: str


def session_cookie_flags(*, secure: bool) -> CookieFlags:
    """HttpOnly (no script reads it), Secure (only over HTTPS; off only for a local http
    stack), SameSite=Lax (not sent on another site's POST), the whole site."""
    return CookieFlags(http_only=True, secure=secure, same_site="lax", path="/")


@dataclass(frozen=True)
class Decision:
    """A consent decision about one student, as the consent service published it."""

    student_id: str
    decision: Literal["granted", "refused", "revoked"]
    effective_at: datetime
    valid_until: date | None = None
    by_student: bool = False  # a student's own consent about themselves


# A student has their own sign-in from basic general education on; a primary-school child's
# account is their parents'.
OWN_SIGN_IN_LEVELS = frozenset({"basic", "secondary"})


def visible_students(
    decisions: Sequence[Decision], *, today: date, levels: Mapping[str, str] | None = None
) -> list[str]:
    """The students a recipient may see: those whose latest decision by that recipient is a
    consent still in force; a student recipient sees themselves only at a level in
    `OWN_SIGN_IN_LEVELS` (`levels`: the journal's education level per student, where known)."""
    latest: dict[str, Decision] = {}
    for decision in sorted(decisions, key=lambda d: d.effective_at):
        latest[decision.student_id] = decision
    known = levels or {}
    return sorted(
        student_id
        for student_id, d in latest.items()
        if d.decision == "granted"
        and (d.valid_until is None or d.valid_until >= today)
        and (not d.by_student or known.get(student_id) in OWN_SIGN_IN_LEVELS)
    )
