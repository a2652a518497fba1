"""The school's reports (issue 15, clauses 5, 7 and 8), `/v1/schools/{school_id}/…`: a class's
summary sheet of final marks (JSON, PDF, XLSX) with its results statistics, its lessons held
against the curriculum, and the school's missing final marks.

Staff and the administration read every class of their school, a teacher the classes and
subjects they teach, families nothing. Formulas: the README, "Reports for the school"."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from schemas.curriculum import LESSON_TYPE_NAMES
from services.digest import usecases
from services.digest.api import MEDIA_TYPES, PDF, READERS, XLSX, PeriodId
from services.digest.lesson_stats import SubjectLessons
from services.digest.reports import ClassReport
from services.digest.service import Digest
from services.shared.auth import Principal, require
from services.shared.errors import error_responses
from services.shared.http import RecordId
from services.shared.pages import Cursor, Limit, Page


class StatsOut(BaseModel):
    """Of the N students with a final value (formulas: README, "Reports for the school")."""

    students: int
    counts: dict[str, int] = Field(examples=[{"5": 6, "4": 9, "3": 7, "2": 2, "н/а": 1}])
    success_rate: float | None = Field(description="успеваемость, %", examples=[88.0])
    quality: float | None = Field(description="качество знаний, %", examples=[60.0])
    average: float | None = Field(examples=[3.79])
    learning_degree: float | None = Field(description="СОУ, %", examples=[58.7])


class SheetSubjectOut(BaseModel):
    subject_id: str
    name: str
    pass_fail: bool = Field(description="Graded «зачёт»/«незачёт» or «осв.», not 1–5.")
    teachers: list[str] = Field(description="Who held its lessons in the period, most first.")
    stats: StatsOut


class SheetRowOut(BaseModel):
    student_id: str
    name: str
    cells: list[str] = Field(
        description="One per subject, in `subjects` order: the final value, «отсрочка до DD.MM», "
        "«—» outside the student's curriculum, or empty when missing.",
        examples=[["5", "зач.", "отсрочка до 20.11", ""]],
    )


class MissingFinalOut(BaseModel):
    student_id: str
    student_name: str
    subject_id: str
    subject_name: str


class SummarySheetOut(BaseModel):
    """A class's summary sheet (сводная ведомость) for a period, with its statistics."""

    school_id: str
    class_id: str
    period_id: str
    period_name: str
    curriculum: bool = Field(
        description="The subjects and their grading come from the curriculum (else from the "
        "marks the class got)."
    )
    subjects: list[SheetSubjectOut]
    rows: list[SheetRowOut]
    missing: list[MissingFinalOut] = Field(description="Final marks expected and not given.")
    overall: StatsOut = Field(description="Over all subjects, per student.")


def summary_sheet_out(school_id: str, class_id: str, report: ClassReport) -> SummarySheetOut:
    sheet = report.sheet
    return SummarySheetOut(
        school_id=school_id,
        class_id=class_id,
        period_id=report.period.period_id,
        period_name=report.period.name,
        curriculum=report.planned,
        subjects=[
            SheetSubjectOut(
                subject_id=s.subject_id,
                name=s.name,
                pass_fail=s.pass_fail,
                teachers=list(s.teachers),
                stats=StatsOut.model_validate(vars(report.by_subject[s.subject_id])),
            )
            for s in sheet.subjects
        ],
        rows=[
            SheetRowOut(student_id=st.student_id, name=st.name, cells=[c.text for c in cells])
            for st, cells in sheet.rows
        ],
        missing=[
            MissingFinalOut(
                student_id=st.student_id,
                student_name=st.name,
                subject_id=subject.subject_id,
                subject_name=subject.name,
            )
            for st, subject in sheet.missing
        ],
        overall=StatsOut.model_validate(vars(report.overall)),
    )


def no_class(class_id: str, period: str) -> HTTPException:
    return HTTPException(404, f"no period {period} or no students in class {class_id}")


class AssessmentOut(BaseModel):
    lesson_type: str = Field(examples=["test"])
    name: str = Field(examples=["контрольная"])
    required: int
    held: int


class TeacherLessonsOut(BaseModel):
    teacher_name: str
    held: int


class SubjectLessonsOut(BaseModel):
    """One subject of the class (one group of it, where the class is split)."""

    subject_id: str
    subject_name: str
    group_id: str | None
    group_name: str | None
    planned: int | None = Field(description="Lessons (hours) the curriculum plans; null: none.")
    due: int | None = Field(description="Of those, due by `as_of` (pro rata to school days).")
    held: int
    difference: int | None = Field(description="held − planned, in hours.")
    behind: bool = Field(description="Fewer held than due.")
    by_type: dict[str, int] = Field(examples=[{"урок": 40, "контрольная": 2}])
    by_teacher: list[TeacherLessonsOut]
    assessments: list[AssessmentOut] = Field(description="The curriculum's required ones.")
    tests_required: int = Field(description="All the required assessments.")
    tests_held: int = Field(description="Of the required types, those held.")


class LessonStatsOut(BaseModel):
    """A class's lessons held against its curriculum in a period (clause 7)."""

    school_id: str
    class_id: str
    class_name: str
    period_id: str
    period_name: str
    as_of: date
    curriculum: bool = Field(description="A curriculum applies to the class this period.")
    subjects: list[SubjectLessonsOut]
    behind: list[str] = Field(description="The subjects behind their plan, by id.")


def lesson_stats_out(school_id: str, class_id: str, found: usecases.ClassLessons) -> LessonStatsOut:
    records, period, rows, as_of = found
    subjects = [_subject_lessons_out(row) for row in rows]
    return LessonStatsOut(
        school_id=school_id,
        class_id=class_id,
        class_name=records.class_name,
        period_id=period.period_id,
        period_name=period.name,
        as_of=as_of,
        curriculum=any(row.planned is not None for row in rows),
        subjects=subjects,
        behind=sorted({row.subject_id for row in subjects if row.behind}),
    )


def _subject_lessons_out(row: SubjectLessons) -> SubjectLessonsOut:
    return SubjectLessonsOut(
        subject_id=row.subject_id,
        subject_name=row.subject_name,
        group_id=row.group_id,
        group_name=row.group_name,
        planned=row.planned,
        due=row.due,
        held=row.held,
        difference=row.difference,
        behind=row.behind,
        by_type={LESSON_TYPE_NAMES[t]: n for t, n in row.by_type.items()},
        by_teacher=[TeacherLessonsOut(teacher_name=t, held=n) for t, n in row.by_teacher.items()],
        assessments=[
            AssessmentOut(lesson_type=t, name=LESSON_TYPE_NAMES[t], required=r, held=h)
            for t, (r, h) in row.assessments.items()
        ],
        tests_required=sum(r for r, _ in row.assessments.values()),
        tests_held=sum(h for _, h in row.assessments.values()),
    )


def reports_router(digest: Digest, *, principal: Any) -> APIRouter:
    store = digest.store
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["reports"])

    @router.get(
        "/classes/{class_id}/summary-sheet",
        summary="A class's summary sheet of final marks for a period, with statistics",
        responses=error_responses(403, 404),
    )
    async def summary_sheet(
        school_id: RecordId,
        class_id: RecordId,
        period: PeriodId,
        caller: Principal = principal,
    ) -> SummarySheetOut:
        """Clause 8: students × subjects with the final values, deferrals and what is missing
        (flagged, and listed in `missing`); clause 7: each subject's statistics. A teacher
        reads only the classes and subjects they teach."""
        require(caller, school_id, READERS)
        reader = await usecases.reader_of(store, caller)
        of = usecases.ClassPeriod(school_id, class_id, period)
        report = await usecases.class_report(digest, of, reader=reader)
        if report is None:
            raise no_class(class_id, period)
        return summary_sheet_out(school_id, class_id, report)

    @router.get(
        "/classes/{class_id}/summary-sheet.pdf",
        summary="The summary sheet to print: A4 landscape, with statistics and a chart",
        response_class=Response,
        responses={200: PDF, **error_responses(403, 404)},
    )
    async def summary_sheet_pdf(
        school_id: RecordId,
        class_id: RecordId,
        period: PeriodId,
        caller: Principal = principal,
    ) -> Response:
        return await sheet_file(school_id, class_id, period, "pdf", caller)

    @router.get(
        "/classes/{class_id}/summary-sheet.xlsx",
        summary="The summary sheet as an Excel workbook (the sheet, and the statistics)",
        response_class=Response,
        responses={200: XLSX, **error_responses(403, 404)},
    )
    async def summary_sheet_xlsx(
        school_id: RecordId,
        class_id: RecordId,
        period: PeriodId,
        caller: Principal = principal,
    ) -> Response:
        return await sheet_file(school_id, class_id, period, "xlsx", caller)

    async def sheet_file(
        school_id: str, class_id: str, period: str, kind: str, caller: Principal
    ) -> Response:
        require(caller, school_id, READERS)
        reader = await usecases.reader_of(store, caller)
        of = usecases.ClassPeriod(school_id, class_id, period)
        content = await usecases.summary_sheet_file(digest, of, kind, reader=reader)
        if content is None:
            raise no_class(class_id, period)
        filename = f"summary-sheet-{class_id}-{period}.{kind}"
        return Response(
            content,
            media_type=MEDIA_TYPES[kind],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get(
        "/classes/{class_id}/lesson-stats",
        summary="A class's lessons held against its curriculum in a period",
        responses=error_responses(403, 404),
    )
    async def lesson_stats(
        school_id: RecordId,
        class_id: RecordId,
        period: PeriodId,
        caller: Principal = principal,
    ) -> LessonStatsOut:
        """Clause 7: per subject (and group), lessons planned, due by today and held, by
        lesson type and teacher, the required assessments held; a subject behind its plan is
        flagged. A teacher reads only the classes and subjects they teach."""
        require(caller, school_id, READERS)
        reader = await usecases.reader_of(store, caller)
        of = usecases.ClassPeriod(school_id, class_id, period)
        found = await usecases.class_lessons(digest, of, reader=reader)
        if found is None:
            raise no_class(class_id, period)
        return lesson_stats_out(school_id, class_id, found)

    @router.get(
        "/missing-final-marks",
        summary="The school's final marks expected for a period and not given",
        responses=error_responses(403, 404, 422),
    )
    async def missing_final_marks(
        school_id: RecordId,
        period: PeriodId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[usecases.MissingFinal]:
        """Clause 7: every student must get a final mark in each subject their curriculum
        grades; these have neither a value nor a deferral. By class, student and subject; a
        teacher: their classes and subjects."""
        require(caller, school_id, READERS)
        reader = await usecases.reader_of(store, caller)
        found = await usecases.missing_finals_page(
            digest, school_id, period, reader=reader, limit=limit, cursor=cursor
        )
        if found is None:
            raise HTTPException(404, f"no period {period}")
        items, next_cursor = found
        return Page(items=items, next_cursor=next_cursor)

    return router
