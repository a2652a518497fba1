"""Consent as it stands now, asked over HTTP (`POST /v1/schools/{school_id}/notice-checks`):
the authority behind the notifier's own view, which Kafka keeps a second or more behind."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from schemas import NotificationRequested
from services.notifier.handover import ConsentAnswer
from services.shared.auth import issue_token

# What consent answers about at most in one call (its `MAX_NOTICES_PER_CHECK`).
PER_CALL = 1000
TOKEN_LIFETIME = timedelta(minutes=5)
# Taken off consent's hand-over window, timed here from the moment the question was sent: for
# the dot to reach the provider and be recorded there, and for consent's replicas' clocks.
HAND_OVER_MARGIN_SECONDS = 1.5


class ConsentUnavailableError(Exception):
    """Consent did not answer: nothing may be handed over until it does."""


class ConsentService:
    """One call per school among the requests (concurrently), each with a `service` token of
    that school signed here: the notifier never holds a token that opens every school."""

    def __init__(self, client: httpx.AsyncClient, jwt_secret: SecretStr) -> None:
        self._client = client
        self._secret = jwt_secret

    async def answer(self, requests: list[NotificationRequested]) -> ConsentAnswer:
        by_school: dict[str, list[NotificationRequested]] = defaultdict(list)
        for request in requests:
            # A sign-in code goes to the address its asker typed; the account checked it.
            if request.payload.category != "account":
                by_school[request.payload.content.school_id].append(request)
        calls = [
            self._ask(school_id, mine[n : n + PER_CALL])
            for school_id, mine in by_school.items()
            for n in range(0, len(mine), PER_CALL)
        ]
        refusals: dict[str, str] = {}
        hand_over_by = math.inf
        for answered in await asyncio.gather(*calls):
            refusals.update(answered.refusals)
            hand_over_by = min(hand_over_by, answered.hand_over_by)
        return ConsentAnswer(refusals, hand_over_by)

    async def _ask(self, school_id: str, requests: list[NotificationRequested]) -> ConsentAnswer:
        token = issue_token(
            self._secret,
            role="service",
            school_id=school_id,
            subject="notifier",
            audience=("consent",),
            ttl=TOKEN_LIFETIME,
        )
        asked_at = time.monotonic()
        try:
            response = await self._client.post(
                f"/v1/schools/{school_id}/notice-checks",
                json={"notices": [_notice(request) for request in requests]},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise ConsentUnavailableError(f"consent unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise ConsentUnavailableError(f"consent answered HTTP {response.status_code}")
        answer = response.json()
        refusals = {
            request.payload.dedupe_key: result["reason"] or "refused by consent"
            for request, result in zip(requests, answer["results"], strict=True)
            if not result["send"]
        }
        window = answer["hand_over_within_seconds"] - HAND_OVER_MARGIN_SECONDS
        return ConsentAnswer(refusals, asked_at + window)


def _notice(request: NotificationRequested) -> dict[str, Any]:
    payload = request.payload
    return {
        "recipient_id": payload.recipient_id,
        "student_ids": list(payload.student_ids or (payload.student_id,)),
        "channel": payload.channel,
        "category": payload.category,
        "address": payload.address,
    }
