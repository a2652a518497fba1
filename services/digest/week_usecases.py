"""What the week's read APIs and the weekly run do with clause 4's read model: who may read
a student's week, and the week, the class's teachers and the calendar as answers."""

from __future__ import annotations

from schemas.schoolweek import (
    ClassTeacherOut,
    Pupil,
    SchoolYearOut,
    StudentWeekOut,
    class_teachers,
    school_year_out,
    student_week,
)
from services.digest.domain import week_bounds
from services.digest.store import MongoDigestStore
from services.digest.usecases import NotTheirsError, reader_of
from services.digest.week_store import MongoWeekStore
from services.shared.auth import Principal
from services.shared.mongo import Document


async def check_student(
    store: MongoDigestStore,
    week_store: MongoWeekStore,
    caller: Principal,
    school_id: str,
    student_id: str,
) -> Document | None:
    """The student, if the caller may read them: staff and admins any, a teacher those of the
    classes they teach, a parent their own children (a link from a consent they granted).
    NotTheirsError otherwise, said the same way whether the student exists or not; None for a
    student the digest does not know, to those who may read any."""
    if caller.role == "parent":
        linked = caller.person_id is not None and await week_store.is_guardian(
            school_id, caller.person_id, student_id
        )
        if not linked:
            raise NotTheirsError(student_id)
    student = await store.student(school_id, student_id)
    if caller.role == "teacher":
        if student is None:
            raise NotTheirsError(student_id)
        (await reader_of(store, caller)).check_class(str(student.get("class_id", "")))
    return student


async def week_of(
    store: MongoDigestStore,
    week_store: MongoWeekStore,
    caller: Principal,
    school_id: str,
    student_id: str,
    week: str,
) -> StudentWeekOut | None:
    student = await check_student(store, week_store, caller, school_id, student_id)
    if student is None:
        return None
    level = student.get("education_level")
    pupil = Pupil(
        student_id,
        str(student.get("name", "")),
        str(student.get("class_id", "")),
        str(student.get("class_name", "")),
        level if level in ("primary", "basic", "secondary") else None,
    )
    monday, _ = week_bounds(week)
    return student_week(
        school_id,
        pupil,
        await week_store.class_book(school_id, pupil.class_id),
        await week_store.school_facts(school_id),
        week,
        monday,
    )


async def teachers_of_class(
    store: MongoDigestStore,
    week_store: MongoWeekStore,
    caller: Principal,
    school_id: str,
    class_id: str,
) -> list[ClassTeacherOut] | None:
    """The class's teachers; None for a class the journal never named. A parent reads the
    classes of their children only."""
    if caller.role == "parent":
        children = await week_store.children_of(school_id, caller.person_id or "")
        classes = {str((await store.student(school_id, c) or {}).get("class_id")) for c in children}
        if class_id not in classes:
            raise NotTheirsError(class_id)
    elif caller.role == "teacher":
        (await reader_of(store, caller)).check_class(class_id)
    if not await week_store.class_known(school_id, class_id):
        return None
    book = await week_store.class_book(school_id, class_id)
    return class_teachers(book, await week_store.school_facts(school_id))


async def school_years(week_store: MongoWeekStore, school_id: str) -> list[SchoolYearOut]:
    calendars = sorted(await week_store.calendars(school_id), key=lambda c: c.starts_on)
    return [school_year_out(school_id, calendar) for calendar in calendars]
