"""What the digest's HTTP API and command line do, between thin entrypoints and the pure
domain: read the read model, compile, render."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import date, datetime
from functools import partial
from typing import TypeVar

from schemas.digest import WeeklyDigestPayload
from services.digest.domain import compile_range, compile_week, iso_week, period_on
from services.digest.paper import extract
from services.digest.service import Digest
from services.digest.store import MongoDigestStore
from services.shared.mongo import Document

T = TypeVar("T")


async def extract_pdf(
    digest: Digest, school_id: str, student_id: str, first: date, last: date
) -> bytes | None:
    """Clause 4's extract of one student's results from `first` to `last`; None when the
    digest knows nothing of the student."""
    store = digest.store
    book = await store.student_book(school_id, student_id)
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
    digest: Digest, school_id: str, student_id: str, week: str
) -> WeeklyDigestPayload | None:
    """One student's week as the digest tells it; None when it knows nothing of them."""
    store = digest.store
    book = await store.student_book(school_id, student_id)
    if book is None:
        return None
    return compile_week(
        book,
        week,
        rules=await store.forecast_rules(school_id),
        periods=await store.periods(school_id),
    )


# Lists come in pages: `limit` items and an opaque cursor naming the last one, in an order
# that does not change as documents are added (a key, not an offset).


class InvalidCursorError(ValueError):
    """A cursor this list did not give."""


def encode_cursor(*key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str, parts: int) -> tuple[str, ...]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeError):
        raise InvalidCursorError(cursor) from None
    if not (isinstance(key, list) and len(key) == parts and all(isinstance(k, str) for k in key)):
        raise InvalidCursorError(cursor)
    return tuple(key)


Page = tuple[list[T], str | None]


async def weekly_runs(
    store: MongoDigestStore, school_id: str, *, limit: int, cursor: str | None
) -> Page[Document]:
    """The school's runs, the latest week first."""
    before = decode_cursor(cursor, 1)[0] if cursor else None
    runs = await store.runs(school_id, limit=limit + 1, before=before)
    more = len(runs) > limit
    return runs[:limit], encode_cursor(runs[limit - 1]["week"]) if more else None


async def late_printouts(
    store: MongoDigestStore, now: datetime, school_id: str, *, limit: int, cursor: str | None
) -> Page[Document]:
    """Pages not handed over by the Monday after their week, by class and week, then student."""
    after = decode_cursor(cursor, 2) if cursor else None
    late = await store.not_handed_over(
        now, school_id, limit=limit + 1, after=(after[0], after[1]) if after else None
    )
    more = len(late) > limit
    items = [{k: v for k, v in entry.items() if k != "printout"} for entry in late[:limit]]
    last = late[limit - 1] if more else None
    return items, encode_cursor(last["printout"], last["student_id"]) if last else None


async def paper_students(
    store: MongoDigestStore, school_id: str, *, limit: int, cursor: str | None
) -> Page[str]:
    """The students of paper-only families, by id."""
    after = decode_cursor(cursor, 1)[0] if cursor else ""
    students = sorted(s for s in await store.paper_only_students(school_id) if s > after)
    more = len(students) > limit
    return students[:limit], encode_cursor(students[limit - 1]) if more else None
