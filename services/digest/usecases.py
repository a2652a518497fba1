"""What the digest's HTTP API and command line do, between thin entrypoints and the pure
domain: read the read model, compile, render."""

from __future__ import annotations

import asyncio
from datetime import date
from functools import partial

from services.digest.domain import compile_range, period_on
from services.digest.paper import extract
from services.digest.service import Digest


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
        week=f"{first:%G}-W{first:%V}",
    )
    school = await store.school(school_id)
    render = partial(extract, digest.paper, str(school.get("name", "")), results)
    return await asyncio.to_thread(render, digest.now().date())
