"""Who is calling: bearer JWTs (HS256) carrying a role and the school the caller belongs to.

One deployment serves many schools, so every token names its school, and every endpoint
checks it before looking anything up: a foreign school is 403 whether the record exists or not.
A token also names the services it is for (`aud`): a token leaked from the personal account's
pages opens nothing in the journal's exchange. Lifetimes are bounded: a day for people, thirty
days for the journal's integration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, cast, get_args

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

# `service`: one Vestnik service calling another about one school (the notifier asking consent
# whether a notice may still go); it opens only the operations that name it.
Role = Literal["journal", "teacher", "admin", "staff", "parent", "service"]
ALGORITHM = "HS256"
ISSUER = "vestnik"
SERVICES = ("grades", "consent", "notifier", "digest", "account")
MAX_LIFETIME: dict[Role, timedelta] = {
    "journal": timedelta(days=30),
    "teacher": timedelta(days=1),
    "admin": timedelta(days=1),
    "staff": timedelta(days=1),
    "parent": timedelta(days=1),
    "service": timedelta(hours=1),
}


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    school_id: str
    # The teacher or guardian the token speaks for, where the role is one.
    person_id: str | None = None


class InvalidTokenError(Exception):
    pass


def issue_token(
    secret: SecretStr,
    *,
    role: Role,
    school_id: str,
    subject: str | None = None,
    person_id: str | None = None,
    audience: tuple[str, ...] = SERVICES,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """A token for `audience` (all services by default: a person's session); at most the
    role's maximum lifetime."""
    if role not in MAX_LIFETIME:
        raise ValueError(f"role must be one of {', '.join(MAX_LIFETIME)}")
    if ttl > MAX_LIFETIME[role]:
        raise ValueError(f"a {role} token lives at most {MAX_LIFETIME[role]}")
    unknown = set(audience) - set(SERVICES)
    if unknown or not audience:
        raise ValueError(f"audience must be some of {', '.join(SERVICES)}")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject or f"{role}:{school_id}",
        "aud": list(audience),
        "role": role,
        "school_id": school_id,
        "iat": now,
        "exp": now + ttl,
    }
    if person_id is not None:
        claims["person_id"] = person_id
    return jwt.encode(claims, secret.get_secret_value(), algorithm=ALGORITHM)


def decode_token(secret: SecretStr, token: str, *, audience: str) -> Principal:
    """The caller, if `token` is sound and meant for the `audience` service."""
    try:
        claims = jwt.decode(
            token,
            secret.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=audience,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidTokenError(str(error)) from None
    role, school_id = claims.get("role"), claims.get("school_id")
    if role not in get_args(Role) or not isinstance(school_id, str) or not school_id:
        raise InvalidTokenError("token lacks a valid role or school_id")
    lifetime = timedelta(seconds=claims["exp"] - claims["iat"])
    if lifetime > MAX_LIFETIME[cast(Role, role)]:
        raise InvalidTokenError(f"a {role} token may live at most {MAX_LIFETIME[cast(Role, role)]}")
    if role in ("teacher", "parent") and not claims.get("person_id"):
        raise InvalidTokenError(f"a {role} token must name its person_id")
    return Principal(claims["sub"], cast(Role, role), school_id, claims.get("person_id"))


_bearer = HTTPBearer(auto_error=False)


def authenticated(secret: SecretStr, *, audience: str) -> Any:
    """A dependency yielding the caller's `Principal`; 401 without a valid token for the
    `audience` service."""

    async def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthorized("missing bearer token")
        try:
            return decode_token(secret, credentials.credentials, audience=audience)
        except InvalidTokenError as error:
            raise _unauthorized(f"invalid token: {error}") from None

    return Depends(principal)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str = "not allowed for this token") -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


def require(
    principal: Principal, school_id: str, roles: tuple[Role, ...], *, or_parent: str | None = None
) -> None:
    """403 unless the caller belongs to `school_id` with one of `roles`, or (with `or_parent`)
    is that parent themselves."""
    own = or_parent is not None and principal.role == "parent" and principal.person_id == or_parent
    if principal.school_id != school_id or not (own or principal.role in roles):
        raise forbidden()
