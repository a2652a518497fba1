"""The consent registry, seen from the personal account: a person's preferences, contacts and
consents are the registry's, so the settings pages read and change them through its HTTP API.

Each call carries a token minted for that person alone (role `parent`, their recipient id,
audience `consent`, five minutes): the registry itself checks that they act only for themselves,
as it does for any parent's token.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from schemas.settings import RecipientSettings
from services.account.tokens import person_token
from services.account.views import Identity


class RegistryUnavailableError(Exception):
    """The registry did not answer, or answered with an error: the page says to try later."""


class RegistryRefusedError(Exception):
    """The registry refused what the person sent (a 422: a signature that does not hold, an
    address that is not one); `field` is its last location, `reason` its message (English)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class ConsentRegistry:
    def __init__(self, client: httpx.AsyncClient, *, jwt_secret: SecretStr) -> None:
        self._client = client
        self._jwt_secret = jwt_secret

    async def settings(self, identity: Identity) -> RecipientSettings:
        path = f"/v1/schools/{identity.school_id}/recipients/{identity.recipient_id}/settings"
        return RecipientSettings.model_validate(await self._call("GET", path, identity))

    async def save_preferences(self, identity: Identity, body: dict[str, Any]) -> None:
        path = f"/v1/schools/{identity.school_id}/recipients/{identity.recipient_id}/preferences"
        await self._call("PUT", path, identity, body)

    async def save_contact(self, identity: Identity, channel: str, body: dict[str, Any]) -> None:
        """A contact handed over with an electronic signature (consent verifies it)."""
        path = (
            f"/v1/schools/{identity.school_id}/recipients/{identity.recipient_id}"
            f"/contacts/{channel}"
        )
        await self._call("PUT", path, identity, body)

    async def revoke(self, identity: Identity, consent_id: str, reason: str) -> None:
        path = f"/v1/schools/{identity.school_id}/consents/{consent_id}/revocation"
        await self._call("POST", path, identity, {"reason": reason})

    async def _call(
        self, method: str, path: str, identity: Identity, body: dict[str, Any] | None = None
    ) -> Any:
        token = person_token(self._jwt_secret, identity, "consent")
        try:
            response = await self._client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            raise RegistryUnavailableError(type(error).__name__) from None
        if response.status_code == 422:
            [first, *_] = response.json().get("detail") or [{}]
            raise RegistryRefusedError(str((first.get("loc") or ["?"])[-1]), first.get("msg", ""))
        if response.status_code >= 300:
            raise RegistryUnavailableError(f"{method} {path}: {response.status_code}")
        return response.json() if response.content else None
