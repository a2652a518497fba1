"""The digest's parts wired together, for the HTTP app, the Kafka side, the scheduler and the
command line alike: `app.py` serves them, `api.py` and the CLI use them, none imports the other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from jinja2 import Environment
from prometheus_client import Counter, Gauge, Histogram

from schemas import (
    AbsenceRecorded,
    ExamResultPosted,
    FinalMarkPosted,
    MarkPosted,
    SchoolChanged,
)
from schemas.classwork import AssessmentPlanned, HomeworkAssigned
from schemas.consent import ConsentRevoked
from schemas.curriculum import LessonHeld, StudyPlanChanged
from schemas.digest import WeeklyDigestCompiled
from schemas.timetable import (
    GroupChanged,
    LessonChangePosted,
    SchoolCalendarChanged,
    TimetableLessonChanged,
)
from services.digest.config import WEEKDAYS, Settings
from services.digest.domain import Schedule
from services.digest.paper import class_printout, create_environment
from services.digest.store import MongoDigestStore
from services.digest.week_store import MongoWeekStore
from services.digest.weekly import RunReport, run_due_weeks, run_week, sections_for
from services.shared.retention import run_retention
from services.shared.runtime import Runtime
from services.shared.tasks import keep_running
from services.shared.timezones import zone_named

SERVICE = "digest"
CONSUMES = (
    MarkPosted,
    AbsenceRecorded,
    FinalMarkPosted,
    ExamResultPosted,
    SchoolChanged,
    ConsentRevoked,
    # Clause 4 (issue 13): one event of each topic.
    TimetableLessonChanged,
    LessonChangePosted,
    AssessmentPlanned,
    HomeworkAssigned,
    SchoolCalendarChanged,
    GroupChanged,
    # Clause 7 (issue 15).
    StudyPlanChanged,
    LessonHeld,
)
PUBLISHES = (WeeklyDigestCompiled,)


@dataclass
class Digest:
    """The service's parts."""

    settings: Settings
    runtime: Runtime
    store: MongoDigestStore
    now: Callable[[], datetime]
    paper: Environment  # the templates of the printouts and extracts, loaded once
    run: Callable[[str, str], Awaitable[RunReport | None]]
    run_due: Callable[[], Awaitable[None]]
    on_purged: Callable[[str, int], None]
    week_store: MongoWeekStore  # clause 4: timetable, changes, tests, homework, calendar
    on_missing_finals: Callable[[int], None]  # issue 15: how many are overdue now

    async def scheduler(self) -> None:
        """Look for due weekly runs (including ones missed while the service was down) and
        run them, until cancelled; a failed pass is tried again at the next look."""

        async def step() -> None:
            await self.run_due()
            await asyncio.sleep(self.settings.poll_seconds)

        await keep_running(step, name="weekly scheduler", retry_seconds=self.settings.poll_seconds)

    async def retention(self) -> None:
        """Delete what the digest wrote about students once its period has passed, until
        cancelled (152-FZ art. 21; FerretDB has no TTL indexes)."""
        days = self.settings
        rules = self.store.retention_rules(
            printouts=timedelta(days=days.printouts_retention_days),
            published=timedelta(days=days.published_retention_days),
            runs=timedelta(days=days.runs_retention_days),
        )
        await run_retention(
            rules, every_seconds=self.settings.retention_every_seconds, on_purged=self.on_purged
        )


def build(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Digest:
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    store = MongoDigestStore(runtime.database(settings.mongo_db))
    week_store = MongoWeekStore(runtime.database(settings.mongo_db))
    now = clock or (lambda: datetime.now(UTC))
    zone = zone_named(settings.school_timezone)
    schedule = Schedule(WEEKDAYS.index(settings.weekly_day), settings.weekly_time)
    env = create_environment()
    runs = Counter(
        "vestnik_digest_runs", "Weekly runs by outcome.", ["outcome"], registry=runtime.registry
    )
    duration = Histogram(
        "vestnik_digest_run_duration_seconds",
        "How long a school's weekly run took.",
        registry=runtime.registry,
        buckets=(1, 5, 15, 60, 300, 900, 3600),
    )
    published = Counter(
        "vestnik_digest_students_published", "Weekly digests published.", registry=runtime.registry
    )
    student_failures = Counter(
        "vestnik_digest_student_failures",
        "Students a weekly run could not tell, by step (read, compile, paper).",
        ["step"],
        registry=runtime.registry,
    )
    pages = Counter("vestnik_paper_pages", "Weekly paper pages printed.", registry=runtime.registry)
    last_run = Gauge(
        "vestnik_digest_last_run_timestamp_seconds",
        "When the last weekly run finished.",
        registry=runtime.registry,
    )
    purged = Counter(
        "vestnik_retention_purged",
        "Personal data deleted because its retention period passed, by collection.",
        ["collection"],
        registry=runtime.registry,
    )
    not_handed = Gauge(
        "vestnik_paper_not_handed_over",
        "Students whose weekly printout was not handed over by the next Monday.",
        registry=runtime.registry,
    )

    async def publish_all(events: list[WeeklyDigestCompiled]) -> None:
        failures = [f for f in await runtime.publish.publish_all(list(events)) if f]
        if failures:
            raise failures[0]  # the run stays leased and is done again; repeats are folded

    async def run(school_id: str, week: str) -> RunReport | None:
        try:
            report = await run_week(
                school_id,
                week,
                store=store,
                publish_all=publish_all,
                print_class=partial(class_printout, env),
                now=now,
                default_zone=zone,
                on_progress=lambda done, total: None,
                sections=await sections_for(
                    week_store, school_id, week, digest_weekday=schedule.weekday
                ),
            )
        except Exception:
            runs.labels("failed").inc()
            raise
        if report is None:
            runs.labels("skipped").inc()
            return None
        runs.labels("done").inc()
        for failure in report.failures:
            student_failures.labels(failure.step).inc()
        duration.observe(report.seconds)
        published.inc(report.students)
        pages.inc(report.paper_pages)
        last_run.set_to_current_time()
        return report

    async def run_due() -> None:
        await run_due_weeks(store, schedule, now(), zone, run=run)
        not_handed.set(len(await store.not_handed_over(now())))

    def on_purged(collection: str, count: int) -> None:
        purged.labels(collection).inc(count)

    missing_finals = Gauge(
        "vestnik_final_marks_missing",
        "Final marks neither given nor deferred, of periods that ended from the grace days "
        "to 60 days ago (issue 15).",
        registry=runtime.registry,
    )
    return Digest(
        settings,
        runtime,
        store,
        now,
        env,
        run,
        run_due,
        on_purged,
        week_store,
        missing_finals.set,
    )
