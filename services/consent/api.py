"""The consent registry's HTTP API (`/v1/schools/{school_id}/…`): thin routes over `usecases`.

Staff and admins register what parents hand over in writing; a parent's own token manages
only their own consents, contacts and preferences, about their own children.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response, status
from fastapi.responses import JSONResponse

from schemas.settings import RecipientSettings
from services.consent import usecases
from services.consent.requests import (
    ConsentIn,
    ContactIn,
    NoticeChecksIn,
    NoticeChecksOut,
    PreferencesIn,
    RecipientIn,
    RevocationIn,
    SignaturePolicyIn,
    TrustedCertificateIn,
)
from services.consent.store import MongoConsentRegistry
from services.shared.auth import Principal
from services.shared.contacts import DEV_CONTACT_DIGEST_KEY
from services.shared.errors import ErrorOut, error_responses, field_error
from services.shared.http import RecordId
from services.shared.pages import Cursor, Limit, Page

CSV = {"text/csv": {"schema": {"type": "string"}}}


def consent_routers(
    registry: MongoConsentRegistry,
    *,
    principal: Any,
    clock: Callable[[], datetime],
    digest_key: str = DEV_CONTACT_DIGEST_KEY,
) -> list[APIRouter]:
    """One router per resource: recipients (with their contacts, preferences and history),
    consents, and the school's settings and decision log."""

    def ports() -> usecases.Registry:
        return usecases.Registry(registry, clock(), digest_key)

    recipients = APIRouter(prefix="/v1/schools/{school_id}/recipients", tags=["recipients"])
    consents = APIRouter(prefix="/v1/schools/{school_id}/consents", tags=["consents"])
    school = APIRouter(prefix="/v1/schools/{school_id}", tags=["school"])

    @recipients.put(
        "/{recipient_id}",
        summary="A guardian or a student",
        status_code=204,
        responses=error_responses(403, 413),
    )
    async def put_recipient(
        school_id: RecordId,
        recipient_id: RecordId,
        body: RecipientIn,
        caller: Principal = principal,
    ) -> None:
        await usecases.save_recipient(school_id, recipient_id, body, caller, store=registry)

    @recipients.put(
        "/{recipient_id}/contacts/{channel}",
        summary="E-mail or phone, only with the document it was handed over in",
        status_code=204,
        responses=error_responses(403, 413),
    )
    async def put_contact(
        school_id: RecordId,
        recipient_id: RecordId,
        channel: Literal["email", "sms"],
        body: ContactIn,
        caller: Principal = principal,
    ) -> None:
        """Answered once any notice consent allowed a moment before has reached its provider
        (see `notice-checks`): a few seconds at most, most often at once."""
        await usecases.save_contact(
            school_id, recipient_id, channel, body, caller, registry=ports()
        )

    @recipients.delete(
        "/{recipient_id}/contacts/{channel}",
        summary="Erase a contact: nothing more is sent to it",
        status_code=204,
        responses=error_responses(403, 404),
    )
    async def delete_contact(
        school_id: RecordId,
        recipient_id: RecordId,
        channel: Literal["email", "sms"],
        caller: Principal = principal,
    ) -> None:
        """152-FZ art. 21: the address is erased; the history keeps how it was handed over.
        Answered once any notice consent allowed a moment before has reached its provider
        (see `notice-checks`): a few seconds at most, most often at once."""
        await usecases.remove_contact(school_id, recipient_id, channel, caller, registry=ports())

    @recipients.get(
        "/{recipient_id}/settings",
        summary="Their preferences, contacts and consents, as the person sees them",
        responses=error_responses(403),
    )
    async def get_settings(
        school_id: RecordId, recipient_id: RecordId, caller: Principal = principal
    ) -> RecipientSettings:
        """Staff of the school, or the recipient themselves (the personal account asks on their
        behalf). Addresses are masked; the consents carry the text agreed to, newest first."""
        return await usecases.recipient_settings(school_id, recipient_id, caller, store=registry)

    @recipients.put(
        "/{recipient_id}/preferences",
        summary="Categories × channels, paper only",
        status_code=204,
        responses=error_responses(403, 413),
    )
    async def put_preferences(
        school_id: RecordId,
        recipient_id: RecordId,
        body: PreferencesIn,
        caller: Principal = principal,
    ) -> None:
        """Answered once any notice consent allowed a moment before has reached its provider
        (see `notice-checks`): a few seconds at most, most often at once."""
        await usecases.save_preferences(school_id, recipient_id, body, caller, registry=ports())

    @recipients.get(
        "/{recipient_id}/history",
        summary="Every change, for an audit",
        response_model=Page[dict[str, Any]],
        responses={**error_responses(403), 200: {"content": CSV}},
    )
    async def history(
        school_id: RecordId,
        recipient_id: RecordId,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
        limit: Limit = 500,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Response:
        """152-FZ art. 9 part 3: the operator must be able to prove the consent. Oldest first;
        as CSV, the next page's cursor is in the `X-Next-Cursor` header."""
        await usecases.may_act_for(caller, school_id, recipient_id, store=registry)
        entries, next_cursor = await registry.history(
            school_id, recipient_id, limit=limit, after=cursor
        )
        if format == "json":
            return Response(
                json.dumps(
                    {"items": entries, "next_cursor": next_cursor}, default=str, ensure_ascii=False
                ),
                media_type="application/json",
            )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at", "by", "action", "details"])
        for entry in entries:
            details = json.dumps(entry["details"], default=str, ensure_ascii=False)
            writer.writerow([entry["at"].isoformat(), entry["by"], entry["action"], details])
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

    @consents.put(
        "/{consent_id}",
        summary="Register a consent or refusal",
        status_code=201,
        responses=error_responses(403, 409, 413),
    )
    async def put_consent(
        school_id: RecordId, consent_id: RecordId, body: ConsentIn, caller: Principal = principal
    ) -> dict[str, str]:
        await usecases.register_consent(school_id, consent_id, body, caller, registry=ports())
        return {"status": "registered"}

    @consents.get(
        "/{consent_id}",
        summary="One consent document, as registered",
        responses=error_responses(403, 404),
    )
    async def get_consent(
        school_id: RecordId, consent_id: RecordId, caller: Principal = principal
    ) -> dict[str, Any]:
        return await usecases.consent_document(school_id, consent_id, caller, store=registry)

    @consents.post(
        "/{consent_id}/revocation",
        summary="Revoke, effective immediately",
        responses=error_responses(403, 404, 413),
    )
    async def revoke(
        school_id: RecordId, consent_id: RecordId, body: RevocationIn, caller: Principal = principal
    ) -> dict[str, str]:
        """Answered once any notice consent allowed a moment before has reached its provider
        (see `notice-checks`): a few seconds at most, most often at once."""
        await usecases.revoke_consent(school_id, consent_id, body.reason, caller, registry=ports())
        return {"status": "revoked"}

    @school.get(
        "/students/{student_id}/decisions",
        summary="Why was who told what (or not)",
        response_model=Page[dict[str, Any]],
        responses=error_responses(403),
    )
    async def decisions(
        school_id: RecordId,
        student_id: RecordId,
        event: Annotated[
            str | None, Query(max_length=100, description="A journal event id")
        ] = None,
        limit: Limit = 500,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[dict[str, Any]]:
        """Answers the support question «why did this parent get nothing?». Oldest first."""
        usecases.require_staff(caller, school_id)
        items, next_cursor = await registry.decisions(
            school_id, student_id, event, limit=limit, after=cursor
        )
        return Page(items=items, next_cursor=next_cursor)

    @school.put(
        "/trusted-certificates/{name}",
        summary="A certificate authority whose electronic signatures the school accepts",
        status_code=204,
        responses=error_responses(403, 413),
    )
    async def put_trusted_certificate(
        school_id: RecordId,
        name: RecordId,
        body: TrustedCertificateIn,
        caller: Principal = principal,
    ) -> None:
        usecases.require_staff(caller, school_id, ("admin",))
        usecases.trusted_certificate(body.pem)
        await registry.save_trusted_certificate(school_id, name, body.pem, by=caller.subject)

    @school.put(
        "/signature-policy",
        summary="How a signer's certificate must name the recipient",
        status_code=204,
        responses=error_responses(403, 413),
    )
    async def put_signature_policy(
        school_id: RecordId, body: SignaturePolicyIn, caller: Principal = principal
    ) -> None:
        """By full name unless the school binds signatures to SNILS (63-FZ qualified
        certificates carry both)."""
        usecases.require_staff(caller, school_id, ("admin",))
        await registry.save_signature_policy(school_id, body.signer_identity, by=caller.subject)

    @school.post(
        "/notice-checks",
        summary="May these notices still go out? (the notifier, right before sending)",
        responses=error_responses(403, 413),
    )
    async def check_notices(
        school_id: RecordId, body: NoticeChecksIn, caller: Principal = principal
    ) -> NoticeChecksOut:
        """For a `service` token of the school only. Each notice passes the filter that made it
        again, as consent stands now, and its address must still be the one handed over: a
        revocation or a new contact accepted a second ago stops it, before Kafka has told the
        notifier. A notice about a recipient consent does not know is answered `send: false`.

        A `send: true` holds for `hand_over_within_seconds` from the question: the changes that
        could stop these notices (a revocation, a refusal, a contact or preferences changed)
        answer only after that, so what was allowed and handed over within it reached its
        provider before the change counted as made."""
        return await usecases.check_notices(school_id, body, caller, registry=ports())

    return [recipients, consents, school]


def install_error_handlers(app: FastAPI) -> None:
    """The use cases' refusals as HTTP answers, in the shapes `error_responses` documents."""

    def answer(code: int, body: Callable[[Any], Any]) -> Any:
        async def handler(request: Request, error: Exception) -> JSONResponse:
            return JSONResponse(body(error), status_code=code)

        return handler

    def detail(error: Exception) -> dict[str, str]:
        return ErrorOut(detail=str(error)).model_dump()

    app.add_exception_handler(usecases.ForbiddenError, answer(status.HTTP_403_FORBIDDEN, detail))
    app.add_exception_handler(usecases.NotFoundError, answer(status.HTTP_404_NOT_FOUND, detail))
    app.add_exception_handler(usecases.ConflictError, answer(status.HTTP_409_CONFLICT, detail))
    app.add_exception_handler(
        usecases.InvalidFieldError,
        answer(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            lambda error: field_error(error.loc, error.message),
        ),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
