"""The digest's HTTP API (`/v1/schools/{school_id}/…`): weeks, paper, extracts, runs.

Thin routes: check the caller, call a use case, answer. Every answer but a 200 is one of the
shapes of `services.shared.errors`, and every route documents the ones it can give."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from schemas.digest import WeeklyDigestPayload
from services.digest import usecases, week_usecases
from services.digest.domain import checked_day, checked_week
from services.digest.forecast import ForecastRules
from services.digest.service import Digest
from services.shared.auth import Principal, Role, require
from services.shared.errors import ErrorOut, error_responses
from services.shared.http import RecordId
from services.shared.pages import Cursor, Limit, Page

T = TypeVar("T")

Week = Annotated[
    str,
    Path(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"], description="An ISO week."),
    AfterValidator(checked_week),
]
Day = Annotated[date, AfterValidator(checked_day)]
PeriodId = Annotated[str, Query(min_length=1, max_length=100, examples=["q2"])]
# Teachers read only the classes they teach, and of a student only their own subjects; the
# paper of a class is for every teacher of it to hand over (the journal names no class teacher).
READERS: tuple[Role, ...] = ("admin", "staff", "teacher")
# A family's own extract too (the personal account asks with the signed-in parent's token).
EXTRACT_READERS: tuple[Role, ...] = (*READERS, "parent")
PDF = {
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    "description": "An A4 PDF in Russian.",
}
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX = {
    "content": {SPREADSHEET: {"schema": {"type": "string", "format": "binary"}}},
    "description": "An Excel workbook in Russian.",
}
MEDIA_TYPES = {"pdf": "application/pdf", "xlsx": SPREADSHEET}


WorkType = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Threshold = Annotated[float, Field(ge=1, le=5)]


class ForecastRulesIn(BaseModel):
    """A school's forecast setting (clause 6)."""

    model_config = ConfigDict(extra="forbid")
    work_type_weights: dict[WorkType, Annotated[float, Field(gt=0, le=100)]] = Field(
        default_factory=dict,
        max_length=50,
        examples=[{"контрольная работа": 2.0, "ответ на уроке": 1.0}],
    )
    five_from: Threshold = Field(4.5, examples=[4.65])
    four_from: Threshold = 3.5
    three_from: Threshold = 2.5
    min_marks: int = Field(3, ge=1, le=100)

    @model_validator(mode="after")
    def _valid_rules(self) -> ForecastRulesIn:
        ForecastRules(**self.model_dump())  # the domain's own rules: thresholds descend, …
        return self


class HandOverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student_id: str = Field(min_length=1, max_length=100, examples=["st-1"])


class RunOut(BaseModel):
    """What `POST …/weekly-runs/{week}` did: `ran` false when there was nobody left to tell
    (or another process was running the week)."""

    ran: bool
    school_id: str | None = None
    week: str | None = None
    students: int | None = None
    paper_pages: int | None = None
    classes_printed: int | None = None
    seconds: float | None = None
    failures: list[dict[str, str]] = []


def invalid(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in the shape FastAPI gives a request it cannot validate."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def digest_router(digest: Digest, *, principal: Any) -> APIRouter:
    store = digest.store
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["digest"])

    @router.get(
        "/students/{student_id}/weeks/{week}",
        summary="One student's week",
        responses=error_responses(403, 404),
    )
    async def student_week(
        school_id: RecordId, student_id: RecordId, week: Week, caller: Principal = principal
    ) -> WeeklyDigestPayload:
        """Marks, averages and forecast, absences, final marks and exam results."""
        require(caller, school_id, READERS)
        reader = await usecases.reader_of(store, caller)
        found = await usecases.student_week(digest, school_id, student_id, week, reader=reader)
        if found is None:
            raise HTTPException(404, f"no results for student {student_id}")
        return found

    @router.get(
        "/students/{student_id}/extract.pdf",
        summary="A student's extract for any range (clause 4)",
        response_class=Response,
        responses={200: PDF, **error_responses(403, 404)},
    )
    async def student_extract(
        school_id: RecordId,
        student_id: RecordId,
        first: Annotated[Day, Query(alias="from", examples=["2026-09-01"])],
        last: Annotated[Day, Query(alias="to", examples=["2026-12-28"])],
        caller: Principal = principal,
    ) -> Response:
        """Marks, absences and final marks from `from` to `to`, with lines for signatures.
        Staff and admins: any student; a teacher: their subjects in the classes they teach; a
        parent: their own children (403 for any other, whether the child exists or not)."""
        require(caller, school_id, EXTRACT_READERS)
        if last < first:
            raise invalid(("query", "to"), "must not be before from")
        if caller.role == "parent":
            await week_usecases.check_student(
                store, digest.week_store, caller, school_id, student_id
            )
        reader = await usecases.reader_of(store, caller)
        pdf = await usecases.extract_pdf(digest, school_id, student_id, first, last, reader=reader)
        if pdf is None:
            raise HTTPException(404, f"no results for student {student_id}")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="extract-{student_id}.pdf"'},
        )

    @router.put(
        "/forecast-rules",
        summary="The school's forecast rules",
        responses=error_responses(403, 413),
    )
    async def put_forecast_rules(
        school_id: RecordId, body: ForecastRulesIn, caller: Principal = principal
    ) -> ForecastRulesIn:
        """Weights by type of work, rounding thresholds and the minimum number of marks."""
        require(caller, school_id, ("admin",))
        await store.set_forecast_rules(school_id, body.model_dump())
        return body

    @router.get(
        "/paper/{class_id}/{week}.pdf",
        summary="A class's weekly printout",
        response_class=Response,
        responses={200: PDF, **error_responses(403, 404)},
    )
    async def class_printout(
        school_id: RecordId, class_id: RecordId, week: Week, caller: Principal = principal
    ) -> Response:
        """The week's printout for the class's paper-only families, one page per student."""
        require(caller, school_id, READERS)
        (await usecases.reader_of(store, caller)).check_class(class_id)
        printout = await store.printout(school_id, class_id, week)
        if printout is None:
            raise HTTPException(404, f"no printout for class {class_id} in {week}")
        return Response(bytes(printout["pdf"]), media_type="application/pdf")

    @router.post(
        "/paper/{class_id}/{week}/hand-overs",
        status_code=204,
        summary="A page handed over",
        responses=error_responses(403, 404, 413),
    )
    async def record_hand_over(
        school_id: RecordId,
        class_id: RecordId,
        week: Week,
        body: HandOverIn,
        caller: Principal = principal,
    ) -> None:
        """The class teacher handed the printout over (repeating it changes nothing)."""
        require(caller, school_id, READERS)
        (await usecases.reader_of(store, caller)).check_class(class_id)
        if not await store.record_hand_over(school_id, class_id, week, body.student_id):
            raise HTTPException(404, f"student_id: {body.student_id} is not in that printout")

    @router.get(
        "/paper/not-handed-over",
        summary="Pages not handed over in time",
        responses=error_responses(403),
    )
    async def not_handed_over(
        school_id: RecordId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[dict[str, Any]]:
        """Printouts not handed over by the Monday after their week, by class and week."""
        require(caller, school_id, READERS)
        return await page_of(
            usecases.late_printouts(
                store,
                digest.now(),
                school_id,
                reader=await usecases.reader_of(store, caller),
                limit=limit,
                cursor=cursor,
            )
        )

    @router.get(
        "/paper/students",
        summary="Students on paper",
        responses=error_responses(403),
    )
    async def paper_students(
        school_id: RecordId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[str]:
        """The students of paper-only families (clause 2): they get a printout each week."""
        require(caller, school_id, READERS)
        reader = await usecases.reader_of(store, caller)
        return await page_of(
            usecases.paper_students(store, school_id, reader=reader, limit=limit, cursor=cursor)
        )

    @router.get("/weekly-runs", summary="The weekly runs", responses=error_responses(403))
    async def weekly_runs(
        school_id: RecordId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[dict[str, Any]]:
        """Each week's run, the latest first: when, how many students, pages and classes, how
        long, and the students it could not tell (not for teachers: they span every class)."""
        require(caller, school_id, ("admin", "staff"))
        return await page_of(usecases.weekly_runs(store, school_id, limit=limit, cursor=cursor))

    @router.post(
        "/weekly-runs/{week}",
        summary="Run a week now",
        responses=error_responses(403),
        response_model_exclude_none=True,
    )
    async def run_week_now(
        school_id: RecordId, week: Week, caller: Principal = principal
    ) -> RunOut:
        """Run a week now, for the students who have not had it (a second call finds none)."""
        require(caller, school_id, ("admin",))
        report = await digest.run(school_id, week)
        if report is None:
            return RunOut(ran=False)
        return RunOut(
            ran=True,
            **{k: v for k, v in vars(report).items() if k != "failures"},
            failures=[vars(failure) for failure in report.failures],
        )

    return router


async def page_of(page: Awaitable[usecases.Page[T]]) -> Page[T]:
    """A use case's page as the answer (a cursor it did not give is the shared 422)."""
    items, next_cursor = await page
    return Page(items=items, next_cursor=next_cursor)


def install_error_handlers(app: FastAPI) -> None:
    """What the use cases refuse, in the documented shapes."""

    async def not_theirs(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(ErrorOut(detail="not allowed for this token").model_dump(), 403)

    app.add_exception_handler(usecases.NotTheirsError, not_theirs)
