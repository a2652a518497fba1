"""The digest's HTTP API (`/v1`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.digest.store import MongoWeeklyViews

Week = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"])]
StudentId = Annotated[str, Path(min_length=1, max_length=100)]


def digest_router(views: MongoWeeklyViews, *, auth: Any) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["digest"], dependencies=[auth])

    @router.get("/students/{student_id}/weeks/{week}")
    async def student_week(student_id: StudentId, week: Week) -> dict[str, Any]:
        """The marks of one student for one ISO week, as the weekly digest will show them."""
        return {"student_id": student_id, "week": week, "marks": await views.week(student_id, week)}

    return router
