"""The weekly run: every student's week compiled and published, paper printed per class.

Exactly once per recipient and week, without a distributed transaction:
- the run of a school's week is leased, so two replicas do not both do the work;
- each student's digest is published as *the same event* however often it is compiled (its id
  is derived from school, student and week), and the consent service and the notifier fold a
  repeat by that id, so a second run, a crash mid-run or two racing processes send nothing twice;
- "done" is recorded per student: a student the read model learns of after the week's run (a
  school still loading its classes) gets that week at the next pass, and nobody gets it twice;
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
from functools import partial
from typing import Literal, cast
from zoneinfo import ZoneInfo

from schemas.digest import WeeklyDigestCompiled, WeeklyDigestPayload
from schemas.schoolweek import ClassBook, Pupil, digest_sections
from services.digest.domain import Schedule, StudentBook, compile_week, week_bounds
from services.digest.store import MongoDigestStore
from services.digest.week_store import MongoWeekStore
from services.shared.mongo import Document
from services.shared.tasks import stop_if_cancelled
from services.shared.timezones import school_zone

log = logging.getLogger(__name__)

PRODUCER = "digest"
RUN_LEASE = timedelta(minutes=10)
PROGRESS_EVERY = 100  # students between progress lines and lease renewals

PrintClass = Callable[[str, str, str, list[WeeklyDigestPayload]], bytes]


@dataclass(frozen=True)
class StudentFailure:
    """A student the pass could not tell: `step` is where (`read`: their record in the read
    model, `compile`: their week, `paper`: their printed page), `error` the exception's type."""

    student_id: str
    step: str
    error: str


@dataclass(frozen=True)
class RunReport:
    """One pass of a school's week: what it published and printed, and whom it could not."""

    school_id: str
    week: str
    students: int
    paper_pages: int
    classes_printed: int
    seconds: float
    failures: tuple[StudentFailure, ...] = ()


Sections = Callable[[StudentBook], Awaitable[dict[str, object]]]


def pupil_of(book: StudentBook) -> Pupil:
    level = (
        book.education_level if book.education_level in ("primary", "basic", "secondary") else None
    )
    return Pupil(
        book.student_id,
        book.name,
        book.class_id,
        book.class_name,
        cast(Literal["primary", "basic", "secondary"] | None, level),
    )


async def sections_for(
    week_store: MongoWeekStore, school_id: str, week: str, *, digest_weekday: int
) -> Sections:
    """The weekly digest's clause 4 sections of each student of a school's week; each class's
    facts are read once."""
    school = await week_store.school_facts(school_id)
    monday, _ = week_bounds(week)
    digest_day = monday + timedelta(days=digest_weekday)
    classes: dict[str, ClassBook] = {}

    async def sections(book: StudentBook) -> dict[str, object]:
        if book.class_id not in classes:
            classes[book.class_id] = await week_store.class_book(school_id, book.class_id)
        return digest_sections(
            pupil_of(book), classes[book.class_id], school, monday=monday, digest_day=digest_day
        )

    return sections


def pass_needed(run: Document | None, students_added: int) -> bool:
    """A week needs a pass until one has finished that knew every student the school has."""
    return run is None or run["status"] != "done" or run.get("students_seen", 0) < students_added


async def due_runs(
    store: MongoDigestStore, schedule: Schedule, now: datetime, default_zone: ZoneInfo
) -> list[tuple[str, str]]:
    """(school, week) pairs whose scheduled time has passed and that still have students to
    tell: a run not done, or students who came after it."""
    due = []
    for school in await store.schools():
        zone = school_zone(school.get("timezone"), default_zone)
        week = schedule.week_due(now, zone, school.get("registered_at"))
        if week is None:
            continue
        if pass_needed(await store.run(school["_id"], week), school.get("students_added", 0)):
            due.append((school["_id"], week))
    return due


async def run_due_weeks(
    store: MongoDigestStore,
    schedule: Schedule,
    now: datetime,
    default_zone: ZoneInfo,
    *,
    run: Callable[[str, str], Awaitable[object]],
) -> list[tuple[str, str]]:
    """Run every due week, each school on its own: a school whose run fails is logged (by the
    error's type: its message may hold personal data) and tried again when its lease ends,
    and the other schools go on. Returns the (school, week) runs that failed."""
    failed = []
    for school_id, week in await due_runs(store, schedule, now, default_zone):
        try:
            await run(school_id, week)
        except Exception as error:
            stop_if_cancelled()
            log.warning("weekly run %s %s failed: %s", school_id, week, type(error).__name__)
            failed.append((school_id, week))
    return failed


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
    sections: Sections | None = None,
) -> RunReport | None:
    """Run the week of one school for the students who have not had it; None when there are
    none, or when another process is running it. `sections` adds clause 4's (tests, homework,
    lesson changes, teachers, holidays) to a student's week."""
    started = time.monotonic()
    if not await store.claim_run(school_id, week, now(), now() + RUN_LEASE):
        log.info("weekly run %s %s: running elsewhere", school_id, week)
        return None
    # The count first, the students second: a student added in between is in both this pass
    # and the next one's reason to look, never in neither.
    school = await store.school(school_id)
    students_seen = int(school.get("students_added", 0))
    books, unreadable = await store.student_books(school_id)
    failures = [StudentFailure(student_id, "read", error) for student_id, error in unreadable]
    had_it = await store.published_students(school_id, week)
    to_tell = [book for book in books if book.student_id not in had_it]
    rules = await store.forecast_rules(school_id)
    periods = await store.periods(school_id)
    paper_only = await store.paper_only_students(school_id)
    log.info(
        "weekly run %s %s: %d of %d students to tell, %d on paper",
        school_id,
        week,
        len(to_tell),
        len(books),
        len(paper_only & {b.student_id for b in to_tell}),
    )

    compiled: dict[str, WeeklyDigestPayload] = {}
    for book in books:
        try:
            payload = compile_week(book, week, rules=rules, periods=periods)
            if sections is not None:
                payload = payload.model_copy(update=await sections(book))
            compiled[book.student_id] = payload
        except Exception as error:  # one student's week must not stop the school's
            failures.append(StudentFailure(book.student_id, "compile", type(error).__name__))
    to_tell = [book for book in to_tell if book.student_id in compiled]

    for start in range(0, len(to_tell), PROGRESS_EVERY):
        chunk = to_tell[start : start + PROGRESS_EVERY]
        events = [
            WeeklyDigestCompiled.new(
                compiled[book.student_id],
                producer=PRODUCER,
                event_id=WeeklyDigestCompiled.id_for(school_id, book.student_id, week),
            )
            for book in chunk
        ]
        await publish_all(events)
        await store.record_published(
            school_id,
            week,
            [book.student_id for book in chunk],
            now(),
            lease_until=now() + RUN_LEASE,
        )
        done = start + len(chunk)
        on_progress(done, len(to_tell))
        log.info("weekly run %s %s: %d/%d students published", school_id, week, done, len(to_tell))

    # A class is printed again, whole, when a student of it on paper is new to this week.
    reprint = {book.class_id for book in to_tell if book.student_id in paper_only}
    on_paper: dict[str, list[WeeklyDigestPayload]] = {}
    class_names: dict[str, str] = {}
    for book in books:
        if book.class_id in reprint and book.student_id in paper_only & set(compiled):
            on_paper.setdefault(book.class_id, []).append(compiled[book.student_id])
            class_names[book.class_id] = book.class_name
    pages, unprintable = await print_classes(
        school,
        week,
        on_paper,
        class_names,
        store=store,
        print_class=print_class,
        default_zone=default_zone,
    )
    failures += unprintable
    report = RunReport(
        school_id,
        week,
        len(to_tell),
        pages,
        len(on_paper),
        time.monotonic() - started,
        tuple(failures),
    )
    await store.finish_run(
        school_id,
        week,
        now(),
        students_seen=students_seen,
        failures=[vars(failure) for failure in failures],
        paper_pages=pages,
        classes_printed=len(on_paper),
        seconds=round(report.seconds, 3),
    )
    for failure in failures:
        log.warning(
            "weekly run %s %s: student %s failed at %s: %s",
            school_id,
            week,
            failure.student_id,
            failure.step,
            failure.error,
        )
    log.info("weekly run %s %s: done in %.1f s", school_id, week, report.seconds)
    return report if to_tell or failures else None


async def print_classes(
    school: Document,
    week: str,
    on_paper: dict[str, list[WeeklyDigestPayload]],
    class_names: dict[str, str],
    *,
    store: MongoDigestStore,
    print_class: PrintClass,
    default_zone: ZoneInfo,
) -> tuple[int, list[StudentFailure]]:
    """One PDF per class for its paper-only families; returns the pages printed and the
    students whose page could not be."""
    # Handed over by the end of the next Monday, in the school's zone.
    monday, _ = week_bounds(week)
    hand_over_by = datetime.combine(
        monday + timedelta(days=8),
        datetime.min.time(),
        tzinfo=school_zone(school.get("timezone"), default_zone),
    )
    school_name = str(school.get("name", ""))
    pages, failures = 0, []
    for class_id, digests in sorted(on_paper.items()):
        digests = sorted(digests, key=lambda d: d.student_name)
        render = partial(print_class, school_name, class_names[class_id], week)
        try:
            pdf = await asyncio.to_thread(render, digests)
        except Exception:
            # Find the pages that fail alone (only now: rendering a page costs as much as a
            # class's share of one), and print the class without them.
            printable = []
            for digest in digests:
                try:
                    await asyncio.to_thread(render, [digest])
                    printable.append(digest)
                except Exception as error:
                    failures.append(
                        StudentFailure(digest.student_id, "paper", type(error).__name__)
                    )
            digests = printable
            if not digests:
                continue
            pdf = await asyncio.to_thread(render, digests)
        await store.save_printout(
            school["_id"],
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
            school["_id"],
            week,
            class_names[class_id],
            len(digests),
        )
    return pages, failures
