"""The staff's JSON endpoints: activation codes to print, and who has signed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from services.account import usecases
from services.shared.auth import Principal, require
from services.shared.errors import error_responses
from services.shared.http import RecordId, SchoolId
from services.shared.pages import Cursor, Limit, Page


class ActivationCodeOut(BaseModel):
    code: str = Field(
        examples=["K7QM-3XWP-9DHA"], description="To print and hand over; shown only once."
    )
    recipient_id: str
    expires_at: AwareDatetime


class SignInOut(BaseModel):
    recipient_id: str
    method: Literal["code", "activation_code"]
    signed_in_at: AwareDatetime


def staff_router(principal: Any, ports: Callable[[], usecases.Ports]) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["staff"])

    @router.post(
        "/recipients/{recipient_id}/activation-codes",
        summary="A one-time activation code for a family without e-mail (valid 30 days)",
        status_code=201,
        responses=error_responses(403),
    )
    async def post_activation_code(
        school_id: SchoolId, recipient_id: RecordId, caller: Principal = principal
    ) -> ActivationCodeOut:
        require(caller, school_id, usecases.STAFF_ROLES)
        code, expires_at = await usecases.issue_activation_code(
            school_id, recipient_id, caller, ports=ports()
        )
        return ActivationCodeOut(code=code, recipient_id=recipient_id, expires_at=expires_at)

    @router.get(
        "/sign-ins",
        summary="Who has signed in to the personal account, and when (newest first)",
        responses=error_responses(403),
    )
    async def get_sign_ins(
        school_id: SchoolId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[SignInOut]:
        require(caller, school_id, usecases.STAFF_ROLES)
        documents, next_cursor = await ports().store.sign_ins(school_id, limit=limit, after=cursor)
        return Page(
            items=[
                SignInOut(
                    recipient_id=d["recipient_id"],
                    method=d["method"],
                    signed_in_at=d["at"],
                )
                for d in documents
            ],
            next_cursor=next_cursor,
        )

    return router
