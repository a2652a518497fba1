"""The consent registry's HTTP API (`/v1/schools/{school_id}/…`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from services.consent.domain import ConsentDecision, ContactProvenance, Guardian, ProvenanceForm
from services.consent.store import MongoConsentRegistry
from services.shared.auth import Principal, Role, require

RecordId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]
REGISTRARS: tuple[Role, ...] = ("admin", "staff", "journal")


class ProvenanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: ProvenanceForm
    document: str = Field(min_length=1, examples=["заявление № 17 от 01.09.2026"])


class GuardianIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, examples=["Иванова Мария Петровна"])
    student_ids: list[str] = Field(min_length=1)
    consent: ConsentDecision | None = None
    email: EmailStr | None = None
    email_provenance: ProvenanceIn | None = None


def consent_router(registry: MongoConsentRegistry, *, principal: Any) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["registry"])

    @router.put("/guardians/{guardian_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def put_guardian(
        school_id: RecordId,
        guardian_id: RecordId,
        body: GuardianIn,
        caller: Principal = principal,
    ) -> None:
        """Register a guardian with their consent decision and e-mail (with its provenance)."""
        require(caller, school_id, REGISTRARS)
        provenance = body.email_provenance
        email_provenance = ContactProvenance(**provenance.model_dump()) if provenance else None
        await registry.save_guardian(
            Guardian(
                guardian_id=guardian_id,
                school_id=school_id,
                name=body.name,
                student_ids=tuple(body.student_ids),
                consent=body.consent,
                email=body.email,
                email_provenance=email_provenance,
            )
        )

    return router
