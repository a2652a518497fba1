"""The digest's HTTP API (`/v1/schools/{school_id}/…`): weeks, paper, extracts, runs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from schemas.digest import WeeklyDigestPayload
from services.digest.domain import compile_week
from services.digest.forecast import ForecastRules
from services.digest.service import Digest
from services.digest.usecases import extract_pdf
from services.shared.auth import Principal, Role, require
from services.shared.http import RecordId

Week = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"])]
READERS: tuple[Role, ...] = ("admin", "staff", "teacher")
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "An A4 PDF in Russian."}
}


class ForecastRulesIn(BaseModel):
    """A school's forecast setting (clause 6)."""

    model_config = ConfigDict(extra="forbid")
    work_type_weights: dict[str, float] = Field(
        default_factory=dict, examples=[{"контрольная работа": 2.0, "ответ на уроке": 1.0}]
    )
    five_from: float = Field(4.5, examples=[4.65])
    four_from: float = 3.5
    three_from: float = 2.5
    min_marks: int = Field(3, ge=1)


class HandOverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student_id: str = Field(min_length=1, max_length=100)


def digest_router(digest: Digest, *, principal: Any) -> APIRouter:
    store = digest.store
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["digest"])

    @router.get("/students/{student_id}/weeks/{week}")
    async def student_week(
        school_id: RecordId, student_id: RecordId, week: Week, caller: Principal = principal
    ) -> WeeklyDigestPayload:
        """One student's week as the digest tells it: marks, averages and forecast, absences,
        final marks and exam results."""
        require(caller, school_id, READERS)
        book = await store.student_book(school_id, student_id)
        if book is None:
            raise HTTPException(404, f"no results for student {student_id}")
        return compile_week(
            book,
            week,
            rules=await store.forecast_rules(school_id),
            periods=await store.periods(school_id),
        )

    @router.get("/students/{student_id}/extract.pdf", responses=PDF)
    async def student_extract(
        school_id: RecordId,
        student_id: RecordId,
        first: Annotated[date, Query(alias="from")],
        last: Annotated[date, Query(alias="to")],
        caller: Principal = principal,
    ) -> Response:
        """Clause 4's paper extract of marks, absences and final marks for any range."""
        require(caller, school_id, READERS)
        if last < first:
            raise HTTPException(422, "to: must not be before from")
        pdf = await extract_pdf(digest, school_id, student_id, first, last)
        if pdf is None:
            raise HTTPException(404, f"no results for student {student_id}")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="extract-{student_id}.pdf"'},
        )

    @router.put("/forecast-rules")
    async def put_forecast_rules(
        school_id: RecordId, body: ForecastRulesIn, caller: Principal = principal
    ) -> ForecastRulesIn:
        """Weights by type of work, rounding thresholds and the minimum number of marks."""
        require(caller, school_id, ("admin",))
        try:
            ForecastRules(**body.model_dump())
        except ValueError as error:
            raise HTTPException(422, f"forecast rules: {error}") from None
        await store.set_forecast_rules(school_id, body.model_dump())
        return body

    @router.get("/paper/{class_id}/{week}.pdf", responses=PDF)
    async def class_printout(
        school_id: RecordId, class_id: RecordId, week: Week, caller: Principal = principal
    ) -> Response:
        """The week's printout for the class's paper-only families, one page per student."""
        require(caller, school_id, READERS)
        printout = await store.printout(school_id, class_id, week)
        if printout is None:
            raise HTTPException(404, f"no printout for class {class_id} in {week}")
        return Response(bytes(printout["pdf"]), media_type="application/pdf")

    @router.post("/paper/{class_id}/{week}/hand-overs", status_code=204)
    async def record_hand_over(
        school_id: RecordId,
        class_id: RecordId,
        week: Week,
        body: HandOverIn,
        caller: Principal = principal,
    ) -> None:
        """The class teacher handed the printout over (repeating it changes nothing)."""
        require(caller, school_id, ("teacher", "staff", "admin"))
        if not await store.record_hand_over(school_id, class_id, week, body.student_id):
            raise HTTPException(404, f"student_id: {body.student_id} is not in that printout")

    @router.get("/paper/not-handed-over")
    async def not_handed_over(
        school_id: RecordId, caller: Principal = principal
    ) -> list[dict[str, Any]]:
        """Printouts not handed over by the Monday after their week."""
        require(caller, school_id, READERS)
        return await store.not_handed_over(digest.now(), school_id)

    @router.get("/paper/students")
    async def paper_students(school_id: RecordId, caller: Principal = principal) -> list[str]:
        """The students of paper-only families (clause 2): they get a printout each week."""
        require(caller, school_id, READERS)
        return sorted(await store.paper_only_students(school_id))

    @router.get("/weekly-runs")
    async def weekly_runs(
        school_id: RecordId, caller: Principal = principal
    ) -> list[dict[str, Any]]:
        """Each week's run: when, how many students, pages and classes, how long."""
        require(caller, school_id, READERS)
        return await store.runs(school_id)

    @router.post("/weekly-runs/{week}")
    async def run_week_now(
        school_id: RecordId, week: Week, caller: Principal = principal
    ) -> dict[str, Any]:
        """Run a week now (it runs once: a second call reports it done)."""
        require(caller, school_id, ("admin",))
        report = await digest.run(school_id, week)
        return {"ran": report is not None, **(vars(report) if report else {})}

    return router
