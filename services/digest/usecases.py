"""What the digest's HTTP API and command line do, between thin entrypoints and the pure
domain: read the read model, compile, render."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from schemas.curriculum import StudyPlanChangedPayload
from schemas.digest import WeeklyDigestPayload
from schemas.journal import EducationLevel
from schemas.schoolweek import Pupil, non_school_day
from schemas.timetable import SchoolCalendarChangedPayload
from services.digest import reports
from services.digest.domain import (
    Period,
    StudentBook,
    compile_range,
    compile_week,
    iso_week,
    only_subjects,
    period_on,
)
from services.digest.lesson_stats import SubjectLessons, lesson_stats
from services.digest.paper import extract, summary_sheet_pdf, worker_templates
from services.digest.reports import ClassRecords, ClassReport
from services.digest.service import Digest
from services.digest.sheet_xlsx import summary_sheet_xlsx
from services.digest.store import MongoDigestStore
from services.shared.auth import Principal
from services.shared.mongo import Document
from services.shared.pages import InvalidCursorError, decode_cursor, encode_cursor
from services.shared.tasks import keep_running
from services.shared.timezones import zone_named

T = TypeVar("T")
log = logging.getLogger(__name__)


class NotTheirsError(Exception):
    """The caller may not read this: a teacher outside what they teach. Said the same way
    whether the record exists or not."""


@dataclass(frozen=True)
class Reader:
    """What a caller may read: everything (`teaching` None: admin, staff, the command line),
    or a teacher's classes, each with the subjects they teach in it."""

    teaching: dict[str, frozenset[str]] | None = None

    @property
    def classes(self) -> frozenset[str] | None:
        return None if self.teaching is None else frozenset(self.teaching)

    def check_class(self, class_id: str) -> None:
        if self.teaching is not None and class_id not in self.teaching:
            raise NotTheirsError(class_id)

    def book(self, book: StudentBook | None) -> StudentBook | None:
        """The student's book as this caller may read it."""
        if self.teaching is None:
            return book
        if book is None:
            raise NotTheirsError("unknown student")
        self.check_class(book.class_id)
        return only_subjects(book, self.teaching[book.class_id])


async def reader_of(store: MongoDigestStore, caller: Principal) -> Reader:
    if caller.role != "teacher" or caller.person_id is None:
        return Reader()
    return Reader(await store.teaching(caller.school_id, caller.person_id))


@dataclass(frozen=True)
class SchoolRecords:
    """What the reports of every class of a school read alike: read once for a whole school."""

    name: str
    zone: ZoneInfo
    periods: list[Period]
    plans: list[StudyPlanChangedPayload]
    calendars: list[SchoolCalendarChangedPayload]


async def school_records(digest: Digest, school_id: str) -> SchoolRecords:
    school = await digest.store.school(school_id)
    return SchoolRecords(
        name=str(school.get("name", "")),
        zone=zone_named(str(school.get("timezone") or digest.settings.school_timezone)),
        periods=await digest.store.periods(school_id),
        plans=await digest.week_store.study_plans(school_id),
        calendars=await digest.week_store.calendars(school_id),
    )


@dataclass(frozen=True)
class ClassPeriod:
    """Which class's reports, for which period."""

    school_id: str
    class_id: str
    period_id: str


async def class_records(
    digest: Digest, of: ClassPeriod, *, reader: Reader, school: SchoolRecords | None = None
) -> tuple[ClassRecords, Period] | None:
    """What the class's reports read for a period (issue 15); None when the digest knows no
    such period or nobody in the class. A teacher: only the subjects they teach. `school`:
    what the school's classes share, when the caller has read it already."""
    school_id, class_id = of.school_id, of.class_id
    reader.check_class(class_id)
    store, week_store = digest.store, digest.week_store
    school = school or await school_records(digest, school_id)
    period = next((p for p in school.periods if p.period_id == of.period_id), None)
    books = [reader.book(book) for book in await store.class_books(school_id, class_id)]
    readable = [book for book in books if book is not None]
    if period is None or not readable:
        return None
    records = ClassRecords(
        books=readable,
        periods=school.periods,
        plans=school.plans,
        curricula=await week_store.curricula(school_id, class_id),
        lessons=await week_store.lessons_held(school_id, class_id),
        subject_ids=None if reader.teaching is None else reader.teaching[class_id],
    )
    return records, period


async def class_report(
    digest: Digest, of: ClassPeriod, *, reader: Reader, school: SchoolRecords | None = None
) -> ClassReport | None:
    """The class's summary sheet and results statistics for a period."""
    found = await class_records(digest, of, reader=reader, school=school)
    return reports.class_report(*found) if found else None


# A class's records, the period, its lessons per subject, and the day they are counted to.
ClassLessons = tuple[ClassRecords, Period, list[SubjectLessons], date]


async def class_lessons(
    digest: Digest, of: ClassPeriod, *, reader: Reader, school: SchoolRecords | None = None
) -> ClassLessons | None:
    """The class's lessons held against its curriculum in a period, as of today in the
    school's time zone (after the period: all of it is due)."""
    school = school or await school_records(digest, of.school_id)
    found = await class_records(digest, of, reader=reader, school=school)
    if found is None:
        return None
    records, period = found
    calendars = school.calendars
    level = next((b.education_level for b in records.books if b.education_level), None)
    pupil = Pupil("", "", of.class_id, records.class_name, cast(EducationLevel | None, level))

    def day_off(day: date) -> bool:
        return non_school_day(calendars, pupil, pupil.education_level, day) is not None

    lessons = [lesson for lesson in records.lessons if records.shows(lesson.subject_id)]
    as_of = digest.now().astimezone(school.zone).date()
    stats = lesson_stats(records.planned(period), lessons, period, as_of=as_of, day_off=day_off)
    return records, period, stats, as_of


async def watch_missing_finals(digest: Digest) -> None:
    """Count the final marks still missing `finals_grace_days` after their period ended (for
    periods ended up to 60 days ago) in every school, for the metric and its alert, until
    cancelled."""

    async def step() -> None:
        await count_missing_finals(digest)
        await asyncio.sleep(digest.settings.finals_check_seconds)

    every = digest.settings.finals_check_seconds
    await keep_running(step, name="missing final marks", retry_seconds=every)


async def count_missing_finals(digest: Digest) -> int:
    today = digest.now().date()
    grace = timedelta(days=digest.settings.finals_grace_days)
    total = 0
    for school in await digest.store.schools():
        school_id = str(school["_id"])
        for period in await digest.store.periods(school_id):
            if period.ends_on + grace <= today <= period.ends_on + timedelta(days=60):
                found = await missing_finals(digest, school_id, period.period_id, reader=Reader())
                total += len(found or ())
    digest.on_missing_finals(total)
    log.info("final marks missing after their period: %d", total)
    return total


@dataclass(frozen=True)
class MissingFinal:
    """A final mark expected and neither given nor deferred (the API answers it as is)."""

    class_id: str
    class_name: str
    student_id: str
    student_name: str
    subject_id: str
    subject_name: str


async def missing_finals(
    digest: Digest,
    school_id: str,
    period_id: str,
    *,
    reader: Reader,
) -> list[MissingFinal] | None:
    """Every final mark of the period expected and neither given nor deferred, in the
    school's classes (a teacher's: theirs), by class then student; None for no such period."""
    school = await school_records(digest, school_id)
    if not any(p.period_id == period_id for p in school.periods):
        return None
    missing = []
    for class_id in await school_classes(digest, school_id, reader=reader):
        of = ClassPeriod(school_id, class_id, period_id)
        report = await class_report(digest, of, reader=reader, school=school)
        missing += missing_of(class_id, report) if report else []
    return missing


@dataclass(frozen=True)
class ClassReports:
    class_id: str
    report: ClassReport  # the summary sheet and the results statistics
    lessons: ClassLessons  # the lessons held against the curriculum


async def school_reports(
    digest: Digest,
    school_id: str,
    period_id: str,
    *,
    reader: Reader,
    school: SchoolRecords | None = None,
) -> AsyncIterator[ClassReports]:
    """Each class's reports for the period, class by class (a teacher: theirs)."""
    school = school or await school_records(digest, school_id)
    for class_id in await school_classes(digest, school_id, reader=reader):
        of = ClassPeriod(school_id, class_id, period_id)
        lessons = await class_lessons(digest, of, reader=reader, school=school)
        if lessons is not None:
            records, period, _, _ = lessons
            yield ClassReports(class_id, reports.class_report(records, period), lessons)


async def school_files(
    digest: Digest,
    school_id: str,
    period_id: str,
    kinds: Sequence[str],
    *,
    pool: Executor,
    at_once: int,
) -> AsyncIterator[tuple[ClassReports, dict[str, bytes]]]:
    """Each class's reports with its summary sheet rendered in `kinds` ("pdf", "xlsx"), for
    the command line and the bench: `at_once` classes are rendered together in `pool` (a
    process pool: a PDF takes a second of CPU) while the next are read; in class order."""
    school = await school_records(digest, school_id)
    today = digest.now().date()
    loop = asyncio.get_running_loop()

    async def rendered(found: ClassReports) -> tuple[ClassReports, dict[str, bytes]]:
        files = await asyncio.gather(
            *(
                loop.run_in_executor(pool, sheet_file, school.name, found.report, kind, today)
                for kind in kinds
            )
        )
        return found, dict(zip(kinds, files, strict=True))

    pending: deque[asyncio.Future[tuple[ClassReports, dict[str, bytes]]]] = deque()
    async for found in school_reports(digest, school_id, period_id, reader=Reader(), school=school):
        pending.append(asyncio.ensure_future(rendered(found)))
        if len(pending) >= at_once:
            yield await pending.popleft()
    while pending:
        yield await pending.popleft()


def missing_of(class_id: str, report: ClassReport) -> list[MissingFinal]:
    return [
        MissingFinal(
            class_id,
            report.class_name,
            student.student_id,
            student.name,
            subject.subject_id,
            subject.name,
        )
        for student, subject in report.sheet.missing
    ]


async def summary_sheet_file(
    digest: Digest, of: ClassPeriod, kind: str, *, reader: Reader
) -> bytes | None:
    """The summary sheet as a PDF (`kind` "pdf") or an Excel workbook ("xlsx")."""
    school = await school_records(digest, of.school_id)
    report = await class_report(digest, of, reader=reader, school=school)
    if report is None:
        return None
    return await render_sheet(digest, school.name, report, kind)


async def render_sheet(digest: Digest, school_name: str, report: ClassReport, kind: str) -> bytes:
    """A report as a PDF ("pdf") or an Excel workbook ("xlsx"), off the event loop."""
    if kind == "xlsx":
        return await asyncio.to_thread(summary_sheet_xlsx, school_name, report)
    render = partial(summary_sheet_pdf, digest.paper, school_name, report)
    return await asyncio.to_thread(render, digest.now().date())


def sheet_file(school_name: str, report: ClassReport, kind: str, issued_on: date) -> bytes:
    """`render_sheet` in a worker process (module-level: a process pool pickles it)."""
    if kind == "xlsx":
        return summary_sheet_xlsx(school_name, report)
    return summary_sheet_pdf(worker_templates(), school_name, report, issued_on)


async def school_classes(digest: Digest, school_id: str, *, reader: Reader) -> list[str]:
    """The classes of the school with a student in them (a teacher's: theirs), by id."""
    classes = sorted(set((await digest.store.classes_of_students(school_id)).values()) - {""})
    return classes if reader.classes is None else [c for c in classes if c in reader.classes]


async def extract_pdf(
    digest: Digest,
    school_id: str,
    student_id: str,
    first: date,
    last: date,
    *,
    reader: Reader | None = None,
) -> bytes | None:
    """Clause 4's extract of one student's results from `first` to `last`; None when the
    digest knows nothing of the student. Without a `reader`: all of it (the command line)."""
    store = digest.store
    book = (reader or Reader()).book(await store.student_book(school_id, student_id))
    if book is None:
        return None
    periods = await store.periods(school_id)
    results = compile_range(
        book,
        first,
        last,
        rules=await store.forecast_rules(school_id),
        period=period_on(periods, last),
        week=iso_week(first),
    )
    school = await store.school(school_id)
    render = partial(extract, digest.paper, str(school.get("name", "")), results)
    return await asyncio.to_thread(render, digest.now().date())


async def student_week(
    digest: Digest, school_id: str, student_id: str, week: str, *, reader: Reader
) -> WeeklyDigestPayload | None:
    """One student's week as the digest tells it; None when it knows nothing of them."""
    store = digest.store
    book = reader.book(await store.student_book(school_id, student_id))
    if book is None:
        return None
    return compile_week(
        book,
        week,
        rules=await store.forecast_rules(school_id),
        periods=await store.periods(school_id),
    )


async def missing_finals_page(
    digest: Digest,
    school_id: str,
    period_id: str,
    *,
    reader: Reader,
    limit: int,
    cursor: str | None,
) -> Page[MissingFinal] | None:
    """`missing_finals` a page at a time, by class, student and subject ids."""
    after = tuple(map(_text, decode_cursor(cursor, parts=3))) if cursor else None
    missing = await missing_finals(digest, school_id, period_id, reader=reader)
    if missing is None:
        return None
    ordered = sorted(missing, key=_missing_key)
    if after is not None:
        ordered = [m for m in ordered if _missing_key(m) > after]
    more = len(ordered) > limit
    return ordered[:limit], encode_cursor(*_missing_key(ordered[limit - 1])) if more else None


def _missing_key(missing: MissingFinal) -> tuple[str, str, str]:
    return missing.class_id, missing.student_id, missing.subject_id


# Lists come in pages (services.shared.pages): `limit` items and an opaque cursor naming the
# last one, in an order that does not change as documents are added (a key, not an offset).
Page = tuple[list[T], str | None]


async def weekly_runs(
    store: MongoDigestStore, school_id: str, *, limit: int, cursor: str | None
) -> Page[Document]:
    """The school's runs, the latest week first."""
    before = _text(decode_cursor(cursor, parts=1)[0]) if cursor else None
    runs = await store.runs(school_id, limit=limit + 1, before=before)
    more = len(runs) > limit
    return runs[:limit], encode_cursor(runs[limit - 1]["week"]) if more else None


async def late_printouts(
    store: MongoDigestStore,
    now: datetime,
    school_id: str,
    *,
    reader: Reader,
    limit: int,
    cursor: str | None,
) -> Page[Document]:
    """Pages not handed over by the Monday after their week, by class and week, then student."""
    after = tuple(map(_text, decode_cursor(cursor, parts=2))) if cursor else None
    late = await store.not_handed_over(
        now,
        school_id,
        limit=limit + 1,
        after=(after[0], after[1]) if after else None,
        classes=reader.classes,
    )
    more = len(late) > limit
    items = [{k: v for k, v in entry.items() if k != "printout"} for entry in late[:limit]]
    last = late[limit - 1] if more else None
    return items, encode_cursor(last["printout"], last["student_id"]) if last else None


async def paper_students(
    store: MongoDigestStore, school_id: str, *, reader: Reader, limit: int, cursor: str | None
) -> Page[str]:
    """The students of paper-only families, by id."""
    after = _text(decode_cursor(cursor, parts=1)[0]) if cursor else ""
    students = sorted(s for s in await store.paper_only_students(school_id) if s > after)
    if (classes := reader.classes) is not None:
        class_of = await store.classes_of_students(school_id)
        students = [s for s in students if class_of.get(s) in classes]
    more = len(students) > limit
    return students[:limit], encode_cursor(students[limit - 1]) if more else None


def _text(part: Any) -> str:
    """A cursor part that must be text (a week, an id)."""
    if not isinstance(part, str):
        raise InvalidCursorError(str(part))
    return part
