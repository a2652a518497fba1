"""The journal's HTTP API (`/v1/schools/{school_id}/…`): reference data, journal batches, reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, Path, status
from pydantic import TypeAdapter

from services.grades.answers import (
    BatchOut,
    ItemOut,
    MarksPage,
    RecordedMark,
    ReferenceSaved,
)
from services.grades.curriculum_items import StudyPlanIn
from services.grades.domain import Outcome
from services.grades.facts import RejectedError
from services.grades.items import (
    BatchIn,
    ClassIn,
    FieldError,
    PeriodIn,
    SchoolIn,
    StudentIn,
    SubjectIn,
    TeacherIn,
)
from services.grades.store import MongoGradesStore
from services.grades.usecases import (
    ChangedConcurrentlyError,
    ForbiddenItemsError,
    NotThisTeachersError,
    SchoolNotRegisteredError,
    StudentNotFoundError,
    put_reference,
    record_batch,
    student_marks,
)
from services.grades.week_examples import WEEK_BATCH_EXAMPLE
from services.grades.week_facts import calendar_year_error
from services.grades.week_items import WEEK_KINDS, BatchItem
from services.grades.week_references import (
    BellScheduleIn,
    GroupIn,
    IndividualCurriculumIn,
    SchoolCalendarIn,
)
from services.shared.auth import Principal, Role, forbidden, require
from services.shared.errors import error_responses
from services.shared.http import RecordId, SchoolId
from services.shared.pages import Cursor, Limit

WRITERS: tuple[Role, ...] = ("journal", "admin")
READERS: tuple[Role, ...] = ("journal", "admin", "staff", "teacher")

BATCH_EXAMPLE = {
    "items": [
        {
            "kind": "mark",
            "mark_id": "m-1001",
            "student_id": "st-1",
            "subject_id": "math",
            "teacher_id": "t-1",
            "lesson_date": "2026-11-27",
            "value": "5",
            "work_type": "контрольная работа",
            "weight": 2,
            "comment": "Отличная работа",
        },
        {"kind": "mark_retraction", "mark_id": "m-0999", "reason": "выставлена ошибочно"},
        {
            "kind": "absence",
            "absence_id": "a-77",
            "student_id": "st-2",
            "subject_id": "math",
            "lesson_date": "2026-11-27",
            "lesson_number": 2,
            "code": "Б",
        },
        {
            "kind": "final_mark",
            "final_mark_id": "f-1",
            "student_id": "st-3",
            "subject_id": "math",
            "period_id": "q2",
            "deferred_until": "2027-01-20",
            "obtained_at": "2026-12-26T14:00:00+03:00",
        },
        {
            "kind": "exam_result",
            "result_id": "e-5",
            "student_id": "st-1",
            "result_kind": "competition",
            "title": "Школьный этап олимпиады по математике",
            "subject_id": "math",
            "value": "1 место",
            "obtained_at": "2026-11-20T12:00:00+03:00",
        },
    ]
}


REFERENCE_ERRORS = error_responses(403, 404, 409, 413)
ITEM_KINDS = frozenset({"mark", "mark_retraction", "absence", "final_mark", "exam_result"}) | (
    WEEK_KINDS
)
# The first calendar year of a school year: 2026 for 2026/2027.
SchoolYearStart = Annotated[int, Path(ge=1990, le=2099, examples=[2026])]


def grades_router(
    store: MongoGradesStore,
    *,
    principal: Any,
    kafka_reachable: Callable[[], Awaitable[bool]],
    on_item: Callable[[str, str], None] = lambda kind, status: None,
) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["journal"])

    async def save_reference(
        school_id: str, kind: str, record_id: str, record: Any, caller: Principal
    ) -> ReferenceSaved:
        require(caller, school_id, WRITERS)
        try:
            outcome = await put_reference(
                school_id, kind, record_id, record, store=store, now=datetime.now(UTC)
            )
        except SchoolNotRegisteredError:
            raise _school_not_registered(school_id) from None
        except RejectedError as rejected:
            raise _unprocessable(rejected.error) from None
        except ChangedConcurrentlyError as error:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"{error} was changed by other requests meanwhile; send it again",
            ) from None
        return ReferenceSaved(status=outcome)

    @router.put(
        "",
        summary="Register or update the school",
        responses=error_responses(403, 409, 413),
    )
    async def put_school(
        school_id: SchoolId, body: SchoolIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "school", school_id, body, caller)

    @router.put(
        "/periods/{period_id}",
        summary="Attestation period: quarter, trimester, half-year or year",
        responses=REFERENCE_ERRORS,
    )
    async def put_period(
        school_id: SchoolId, period_id: RecordId, body: PeriodIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "period", period_id, body, caller)

    @router.put(
        "/classes/{class_id}",
        summary="Class with its education level",
        responses=REFERENCE_ERRORS,
    )
    async def put_class(
        school_id: SchoolId, class_id: RecordId, body: ClassIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "class", class_id, body, caller)

    @router.put(
        "/students/{student_id}", summary="Student and their class", responses=REFERENCE_ERRORS
    )
    async def put_student(
        school_id: SchoolId, student_id: RecordId, body: StudentIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "student", student_id, body, caller)

    @router.put("/subjects/{subject_id}", summary="Subject", responses=REFERENCE_ERRORS)
    async def put_subject(
        school_id: SchoolId, subject_id: RecordId, body: SubjectIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "subject", subject_id, body, caller)

    @router.put(
        "/teachers/{teacher_id}",
        summary="Teacher and what they teach to which class",
        responses=REFERENCE_ERRORS,
    )
    async def put_teacher(
        school_id: SchoolId, teacher_id: RecordId, body: TeacherIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "teacher", teacher_id, body, caller)

    @router.put(
        "/groups/{group_id}",
        summary="Group inside a class: a subject split into groups, or an elective",
        responses=REFERENCE_ERRORS,
    )
    async def put_group(
        school_id: SchoolId, group_id: RecordId, body: GroupIn, caller: Principal = principal
    ) -> ReferenceSaved:
        return await save_reference(school_id, "group", group_id, body, caller)

    @router.put(
        "/curricula/{student_id}",
        summary="A student's individual curriculum (ИУП), at their own programme level",
        responses=REFERENCE_ERRORS,
    )
    async def put_curriculum(
        school_id: SchoolId,
        student_id: RecordId,
        body: IndividualCurriculumIn,
        caller: Principal = principal,
    ) -> ReferenceSaved:
        return await save_reference(school_id, "curriculum", student_id, body, caller)

    @router.put(
        "/study-plans/{plan_id}",
        summary="The curriculum (учебный план) of a school year for a programme level or classes",
        responses=REFERENCE_ERRORS,
    )
    async def put_study_plan(
        school_id: SchoolId, plan_id: RecordId, body: StudyPlanIn, caller: Principal = principal
    ) -> ReferenceSaved:
        """The subjects, each graded by marks or pass/fail, with the hours and the required
        assessments of each period. A class follows the plan naming it in `class_ids`, else its
        level's plan without `class_ids`."""
        return await save_reference(school_id, "study_plan", plan_id, body, caller)

    @router.put(
        "/bell-schedules/{bell_schedule_id}",
        summary="Bell schedule: when each lesson starts and ends",
        responses=REFERENCE_ERRORS,
    )
    async def put_bell_schedule(
        school_id: SchoolId,
        bell_schedule_id: RecordId,
        body: BellScheduleIn,
        caller: Principal = principal,
    ) -> ReferenceSaved:
        return await save_reference(school_id, "bell_schedule", bell_schedule_id, body, caller)

    @router.put(
        "/calendars/{year}",
        summary="School calendar of a school year (by its first year): holidays, non-school days",
        responses=REFERENCE_ERRORS,
    )
    async def put_calendar(
        school_id: SchoolId,
        year: SchoolYearStart,
        body: SchoolCalendarIn,
        caller: Principal = principal,
    ) -> ReferenceSaved:
        require(caller, school_id, WRITERS)
        mismatch = calendar_year_error(year, body)
        if mismatch is not None:
            raise _unprocessable(mismatch.error)
        return await save_reference(school_id, "calendar", str(year), body, caller)

    @router.post(
        "/journal",
        summary="Send a batch of journal items: marks, absences, results, the timetable, "
        "lesson changes, tests, homework, recommendations, lessons held",
        responses=error_responses(403, 404, 413),
    )
    async def post_journal(
        school_id: SchoolId,
        body: Annotated[
            BatchIn,
            Body(
                openapi_examples={
                    "mixed": {"summary": "Marks and results", "value": BATCH_EXAMPLE},
                    "week": {"summary": "The school week (clause 4)", "value": WEEK_BATCH_EXAMPLE},
                }
            ),
        ],
        caller: Principal = principal,
    ) -> BatchOut:
        """Up to 1,000 items, each answered on its own: `accepted`, `duplicate` (sent before,
        nothing changes), `corrected` (known id, new content), `retracted`, or `rejected`
        with the field and the reason. Valid items are never dropped because a neighbour was
        bad. Teachers may send items only for the classes, groups and subjects they teach.
        `announce: false` marks the batch as loaded with a schedule: not news."""
        require(caller, school_id, (*WRITERS, "teacher"))
        teacher_id = caller.person_id if caller.role == "teacher" else None
        try:
            results = await record_batch(
                school_id,
                body.items,
                store=store,
                now=datetime.now(UTC),
                teacher_id=teacher_id,
                announce=body.announce,
            )
        except SchoolNotRegisteredError:
            raise _school_not_registered(school_id) from None
        except ForbiddenItemsError as error:
            raise forbidden(str(error)) from None
        for result in results:
            kind = body.items[result.index].get("kind", "mark")
            # Only known kinds become label values: a client must not grow the metric (nor
            # break it with a kind that is not a string).
            known = isinstance(kind, str) and kind in ITEM_KINDS
            on_item(kind if known else "unknown", result.status)
        summary = {outcome: 0 for outcome in Outcome.__args__}  # type: ignore[attr-defined]
        for result in results:
            summary[result.status] += 1
        return BatchOut(
            summary=summary,
            items=[ItemOut(**vars(result)) for result in results],
            events="queued" if await kafka_reachable() else "queued while Kafka is unreachable",
        )

    @router.get(
        "/students/{student_id}/marks",
        summary="A student's marks, as recorded",
        responses=error_responses(403, 404),
    )
    async def get_student_marks(
        school_id: SchoolId,
        student_id: RecordId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> MarksPage:
        """In the order of the journal's mark ids, a page at a time: ask again with the
        page's `next_cursor` until it is null. Teachers read only the subjects they teach to
        the student's class."""
        require(caller, school_id, READERS)
        teacher_id = caller.person_id if caller.role == "teacher" else None
        try:
            page = await student_marks(
                school_id,
                student_id,
                store=store,
                limit=limit,
                cursor=cursor,
                teacher_id=teacher_id,
            )
        except SchoolNotRegisteredError:
            raise _school_not_registered(school_id) from None
        except NotThisTeachersError:
            raise forbidden() from None
        except StudentNotFoundError:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"no student {student_id} in this school"
            ) from None
        return MarksPage(
            items=[
                RecordedMark(**record.state, retracted=record.retracted) for record in page.records
            ],
            next_cursor=page.next_cursor,
        )

    return router


def _school_not_registered(school_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail=f"school {school_id} is not registered: PUT /v1/schools/{school_id} first",
    )


def _unprocessable(error: FieldError) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {"loc": ["body", *error.field.split(".")], "msg": error.reason, "type": "reference"}
        ],
    )


def document_journal_items(app: FastAPI) -> None:
    """Show the journal item types in `/openapi.json`. The batch body is validated item by
    item (so its declared type is a list of objects); vendors still need each item's schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        items = TypeAdapter(BatchItem).json_schema(ref_template="#/components/schemas/{model}")
        schema["components"]["schemas"].update(items.pop("$defs"))
        schema["components"]["schemas"]["BatchIn"]["properties"]["items"]["items"] = items
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
