"""The read side of a school week (clause 4), for the personal account and staff: a student's
week, a class's teachers, the school calendar. Parents read their own children only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import AfterValidator

from schemas.schoolweek import ClassTeacherOut, SchoolYearOut, StudentWeekOut
from services.digest import week_usecases
from services.digest.domain import checked_week
from services.digest.service import Digest
from services.shared.auth import Principal, Role, require
from services.shared.errors import error_responses
from services.shared.http import RecordId
from services.shared.pages import (
    Cursor,
    InvalidCursorError,
    Limit,
    Page,
    decode_cursor,
    encode_cursor,
)

# Everyone of the school may ask; what a teacher and a parent may see is checked per record.
WEEK_READERS: tuple[Role, ...] = ("admin", "staff", "teacher", "parent")


def checked_school_year(school_year: str) -> str:
    """`2026/2027`: the second year follows the first."""
    first, second = school_year.split("/")
    if int(second) != int(first) + 1:
        raise ValueError("the second year must follow the first")
    return school_year


WeekQuery = Annotated[
    str,
    Query(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W49"], description="An ISO week."),
    AfterValidator(checked_week),
]
SchoolYearQuery = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}/\d{4}$",
        examples=["2026/2027"],
        description="None: the school year of today, or the next one.",
    ),
    AfterValidator(lambda year: year if year is None else checked_school_year(year)),
]


def week_router(digest: Digest, *, principal: Any) -> APIRouter:
    store, week_store = digest.store, digest.week_store
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["school week"])

    @router.get(
        "/students/{student_id}/week",
        summary="A student's school week",
        responses=error_responses(403, 404),
    )
    async def student_week(
        school_id: RecordId, student_id: RecordId, week: WeekQuery, caller: Principal = principal
    ) -> StudentWeekOut:
        """Each day of the ISO week: the lessons of the student's class and groups (A/B weeks
        where the school has them, bell times where known) with the day's lesson changes
        applied (substituted, moved out and in, cancelled, extra, each with its reason),
        homework set and due, tests, and non-school days. Staff and admins: any student; a
        teacher: the classes they teach; a parent: their own children (403 for any other)."""
        require(caller, school_id, WEEK_READERS)
        found = await week_usecases.week_of(store, week_store, caller, school_id, student_id, week)
        if found is None:
            raise HTTPException(404, f"no student {student_id}")
        return found

    @router.get(
        "/classes/{class_id}/teachers",
        summary="A class's teachers",
        responses=error_responses(403, 404),
    )
    async def class_teachers(
        school_id: RecordId,
        class_id: RecordId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[ClassTeacherOut]:
        """Who teaches the class which subject, then each group's teachers (by subject, then
        group). A teacher: the classes they teach; a parent: their children's classes."""
        require(caller, school_id, WEEK_READERS)
        teachers = await week_usecases.teachers_of_class(
            store, week_store, caller, school_id, class_id
        )
        if teachers is None:
            raise HTTPException(404, f"no class {class_id}")
        return page(teachers, limit, cursor, key=lambda t: [t.subject_name, t.group_name or ""])

    @router.get(
        "/calendar",
        summary="The school calendar",
        responses=error_responses(403, 404),
    )
    async def calendar(
        school_id: RecordId, school_year: SchoolYearQuery = None, caller: Principal = principal
    ) -> SchoolYearOut:
        """A school year: when it runs, its A/B weeks, and its holidays and other non-school
        days (per level or class where they differ). Anyone of the school may read it."""
        require(caller, school_id, WEEK_READERS)
        years = await week_usecases.school_years(week_store, school_id)
        today = digest.now().date()
        chosen = next(
            (
                y
                for y in years
                if (y.school_year == school_year if school_year else y.ends_on >= today)
            ),
            None,
        )
        if chosen is None:
            raise HTTPException(404, f"no calendar for {school_year or 'this school year'}")
        return chosen

    return router


def page(items: list[Any], limit: int, cursor: str | None, *, key: Any) -> Page[Any]:
    """A page of a short list already in `key` order, from the item after the cursor's."""
    if cursor is not None:
        after = list(decode_cursor(cursor, parts=2))
        if not all(isinstance(part, str) for part in after):
            raise InvalidCursorError(cursor)
        items = [item for item in items if key(item) > after]
    more = len(items) > limit
    return Page(
        items=items[:limit], next_cursor=encode_cursor(*key(items[limit - 1])) if more else None
    )
