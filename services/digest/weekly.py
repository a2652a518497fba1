"""The weekly run: every student's week compiled and published, paper printed per class.

Exactly once per recipient and week, without a distributed transaction:
- the run of a school's week is leased, so two replicas do not both do the work;
- each student's digest is published as *the same event* however often it is compiled (its id
  is derived from school, student and week), and the consent service and the notifier fold a
  repeat by that id, so a second run, a crash mid-run or two racing processes send nothing twice;
- a class's printout is one document per class and week, replaced, never appended.
A run missed while the service was down is found by `due_runs` when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.digest import WeeklyDigestCompiled, WeeklyDigestPayload
from services.digest.domain import Schedule, compile_week, iso_week, week_bounds
from services.digest.store import MongoDigestStore
from services.shared.timezones import school_zone

log = logging.getLogger(__name__)

PRODUCER = "digest"
RUN_LEASE = timedelta(minutes=10)
PROGRESS_EVERY = 100  # students between progress lines and lease renewals

PrintClass = Callable[[str, str, str, list[WeeklyDigestPayload]], bytes]


@dataclass(frozen=True)
class RunReport:
    school_id: str
    week: str
    students: int
    paper_pages: int
    classes_printed: int
    seconds: float


async def due_runs(
    store: MongoDigestStore, schedule: Schedule, now: datetime, default_zone: ZoneInfo
) -> list[tuple[str, str]]:
    """(school, week) pairs whose scheduled time has passed and whose run is not done."""
    due = []
    for school in await store.schools():
        when = schedule.last_due(now, school_zone(school.get("timezone"), default_zone))
        week = iso_week(when.date())
        if not await store.run_done(school["_id"], week):
            due.append((school["_id"], week))
    return due


async def run_week(
    school_id: str,
    week: str,
    *,
    store: MongoDigestStore,
    publish_all: Callable[[list[WeeklyDigestCompiled]], Awaitable[None]],
    print_class: PrintClass,
    now: Callable[[], datetime],
    default_zone: ZoneInfo,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> RunReport | None:
    """Run the week of one school, unless it is done or another process is running it."""
    started = time.monotonic()
    if not await store.claim_run(school_id, week, now(), now() + RUN_LEASE):
        log.info("weekly run %s %s: done already or running elsewhere", school_id, week)
        return None
    school = await store.school(school_id)
    school_name = str(school.get("name", ""))
    books = await store.student_books(school_id)
    rules = await store.forecast_rules(school_id)
    periods = await store.periods(school_id)
    paper_only = await store.paper_only_students(school_id)
    log.info(
        "weekly run %s %s: %d students, %d on paper",
        school_id,
        week,
        len(books),
        len(paper_only & {b.student_id for b in books}),
    )

    on_paper: dict[str, list[WeeklyDigestPayload]] = {}
    class_names: dict[str, str] = {}
    for start in range(0, len(books), PROGRESS_EVERY):
        chunk = books[start : start + PROGRESS_EVERY]
        events = []
        for book in chunk:
            digest = compile_week(book, week, rules=rules, periods=periods)
            events.append(
                WeeklyDigestCompiled.new(
                    digest,
                    producer=PRODUCER,
                    event_id=WeeklyDigestCompiled.id_for(school_id, book.student_id, week),
                )
            )
            if book.student_id in paper_only:
                on_paper.setdefault(book.class_id, []).append(digest)
                class_names[book.class_id] = book.class_name
        await publish_all(events)
        done = start + len(chunk)
        on_progress(done, len(books))
        log.info("weekly run %s %s: %d/%d students published", school_id, week, done, len(books))
        await store.run_progress(
            school_id, week, students_published=done, lease_until=now() + RUN_LEASE
        )

    # Handed over by the end of the next Monday, in the school's zone.
    monday, _ = week_bounds(week)
    hand_over_by = datetime.combine(
        monday + timedelta(days=8),
        datetime.min.time(),
        tzinfo=school_zone(school.get("timezone"), default_zone),
    )
    pages = 0
    for class_id, digests in sorted(on_paper.items()):
        digests.sort(key=lambda d: d.student_name)
        pdf = await asyncio.to_thread(
            print_class, school_name, class_names[class_id], week, digests
        )
        await store.save_printout(
            school_id,
            class_id,
            week,
            class_name=class_names[class_id],
            pdf=pdf,
            students=[{"student_id": d.student_id, "name": d.student_name} for d in digests],
            hand_over_by=hand_over_by,
        )
        pages += len(digests)
        log.info(
            "weekly run %s %s: class %s printed, %d pages",
            school_id,
            week,
            class_names[class_id],
            len(digests),
        )
    report = RunReport(
        school_id, week, len(books), pages, len(on_paper), time.monotonic() - started
    )
    await store.finish_run(
        school_id,
        week,
        now(),
        students=report.students,
        paper_pages=pages,
        classes_printed=len(on_paper),
        seconds=round(report.seconds, 3),
    )
    log.info("weekly run %s %s: done in %.1f s", school_id, week, report.seconds)
    return report
