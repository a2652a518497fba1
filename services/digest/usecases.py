"""What the digest's HTTP API and command line do, between thin entrypoints and the pure
domain: read the read model, compile, render."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar

from schemas.digest import WeeklyDigestPayload
from services.digest import reports
from services.digest.domain import (
    StudentBook,
    compile_range,
    compile_week,
    iso_week,
    only_subjects,
    period_on,
)
from services.digest.paper import extract, summary_sheet_pdf
from services.digest.reports import ClassReport
from services.digest.service import Digest
from services.digest.sheet_xlsx import summary_sheet_xlsx
from services.digest.store import MongoDigestStore
from services.shared.auth import Principal
from services.shared.mongo import Document
from services.shared.pages import InvalidCursorError, decode_cursor, encode_cursor

T = TypeVar("T")


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


async def class_report(
    digest: Digest, school_id: str, class_id: str, period_id: str, *, reader: Reader
) -> ClassReport | None:
    """The class's summary sheet and results statistics for a period (issue 15); None when
    the digest knows no such period or nobody in the class. A teacher: only their subjects."""
    reader.check_class(class_id)
    store = digest.store
    period = next((p for p in await store.periods(school_id) if p.period_id == period_id), None)
    if period is None:
        return None
    books = [reader.book(book) for book in await store.class_books(school_id, class_id)]
    readable = [book for book in books if book is not None]
    return reports.class_report(readable, period) if readable else None


async def summary_sheet_file(
    digest: Digest, school_id: str, class_id: str, period_id: str, kind: str, *, reader: Reader
) -> bytes | None:
    """The summary sheet as a PDF (`kind` "pdf") or an Excel workbook ("xlsx")."""
    report = await class_report(digest, school_id, class_id, period_id, reader=reader)
    if report is None:
        return None
    school = await digest.store.school(school_id)
    school_name = str(school.get("name", ""))
    if kind == "xlsx":
        return await asyncio.to_thread(summary_sheet_xlsx, school_name, report)
    render = partial(summary_sheet_pdf, digest.paper, school_name, report)
    return await asyncio.to_thread(render, digest.now().date())


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
