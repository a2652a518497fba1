"""The token the account calls another service with on a signed-in person's behalf: role
`parent`, their recipient id in that school, for that one service, five minutes. The called
service checks for itself that they act only for themselves and their own children."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from services.account.views import Identity
from services.shared.auth import issue_token

TOKEN_LIFETIME = timedelta(minutes=5)


def person_token(jwt_secret: SecretStr, identity: Identity, audience: str) -> str:
    return issue_token(
        jwt_secret,
        role="parent",
        school_id=identity.school_id,
        subject=f"account:{identity.school_id}:{identity.recipient_id}",
        person_id=identity.recipient_id,
        audience=(audience,),
        ttl=TOKEN_LIFETIME,
    )
