"""The digest's HTTP API (`/v1/schools/{school_id}/…`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.digest.store import MongoWeeklyViews
from services.shared.auth import Principal, Role, require
from services.shared.http import RecordId

Week = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"])]
READERS: tuple[Role, ...] = ("admin", "staff", "teacher", "journal")


def digest_router(views: MongoWeeklyViews, *, principal: Any) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["digest"])

    @router.get("/students/{student_id}/weeks/{week}")
    async def student_week(
        school_id: RecordId,
        student_id: RecordId,
        week: Week,
        caller: Principal = principal,
    ) -> dict[str, Any]:
        """The marks of one student for one ISO week, as the weekly digest will show them."""
        require(caller, school_id, READERS)
        marks = await views.week(school_id, student_id, week)
        return {"student_id": student_id, "week": week, "marks": marks}

    return router
