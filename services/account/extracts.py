"""The digest, seen from the personal account: a child's PDF extract for any range is the
digest's to render (clause 4), so the account downloads it over HTTP and hands it on.

Each call carries a token minted for the signed-in person alone (role `parent`, their
recipient id in the child's school, audience `digest`, five minutes): the digest itself
checks that the child is theirs (a link from a consent they granted), as it does for any
parent's token.
"""

from __future__ import annotations

from datetime import date

import httpx
from pydantic import SecretStr

from services.account.tokens import person_token
from services.account.views import Identity


class DigestUnavailableError(Exception):
    """The digest did not answer, or answered with an error: the page says to try later."""


class DigestExtracts:
    def __init__(self, client: httpx.AsyncClient, *, jwt_secret: SecretStr) -> None:
        self._client = client
        self._jwt_secret = jwt_secret

    async def extract(
        self, school_id: str, student_id: str, recipient_id: str, first: date, last: date
    ) -> bytes | None:
        """The PDF; None when the digest knows nothing of the student yet (its 404)."""
        token = person_token(self._jwt_secret, Identity(school_id, recipient_id), "digest")
        path = f"/v1/schools/{school_id}/students/{student_id}/extract.pdf"
        try:
            response = await self._client.get(
                path,
                params={"from": first.isoformat(), "to": last.isoformat()},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise DigestUnavailableError(type(error).__name__) from None
        if response.status_code == 404:
            return None
        # A 403 too: the account shows a child once the consent's event reached it, and the
        # digest learns the same link from the same event, perhaps a moment later.
        if response.status_code != 200 or not response.content.startswith(b"%PDF"):
            raise DigestUnavailableError(f"GET {path}: {response.status_code}")
        return response.content
