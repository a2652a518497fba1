"""Composition root of the digest service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from jinja2 import Environment
from prometheus_client import Counter, Gauge, Histogram

from schemas import (
    AbsenceRecorded,
    ExamResultPosted,
    FinalMarkPosted,
    MarkPosted,
    SchoolChanged,
)
from schemas.consent import ConsentRevoked
from schemas.digest import WeeklyDigestCompiled
from services.digest.api import digest_router
from services.digest.config import WEEKDAYS, Settings
from services.digest.domain import Schedule
from services.digest.handlers import register_handlers, run_scheduler
from services.digest.paper import class_printout, create_environment
from services.digest.store import MongoDigestStore
from services.digest.weekly import RunReport, due_runs, run_week
from services.shared.auth import authenticated
from services.shared.http import create_http_app
from services.shared.runtime import Runtime
from services.shared.tasks import in_background

SERVICE = "digest"
CONSUMES = (
    MarkPosted,
    AbsenceRecorded,
    FinalMarkPosted,
    ExamResultPosted,
    SchoolChanged,
    ConsentRevoked,
)
PUBLISHES = (WeeklyDigestCompiled,)


@dataclass
class Digest:
    """The service's parts, for the HTTP app, the scheduler and the command line alike."""

    settings: Settings
    runtime: Runtime
    store: MongoDigestStore
    now: Callable[[], datetime]
    paper: Environment  # the templates of the printouts and extracts, loaded once
    run: Callable[[str, str], Awaitable[RunReport | None]]
    run_due: Callable[[], Awaitable[None]]


def build(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Digest:
    runtime = Runtime.build(SERVICE, settings, publishes=PUBLISHES)
    store = MongoDigestStore(runtime.database(settings.mongo_db))
    now = clock or (lambda: datetime.now(UTC))
    zone = ZoneInfo(settings.school_timezone)
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
    pages = Counter("vestnik_paper_pages", "Weekly paper pages printed.", registry=runtime.registry)
    last_run = Gauge(
        "vestnik_digest_last_run_timestamp_seconds",
        "When the last weekly run finished.",
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
            )
        except Exception:
            runs.labels("failed").inc()
            raise
        if report is None:
            runs.labels("skipped").inc()
            return None
        runs.labels("done").inc()
        duration.observe(report.seconds)
        published.inc(report.students)
        pages.inc(report.paper_pages)
        last_run.set_to_current_time()
        return report

    async def run_due() -> None:
        for school_id, week in await due_runs(store, schedule, now(), zone):
            await run(school_id, week)
        not_handed.set(len(await store.not_handed_over(now())))

    return Digest(settings, runtime, store, now, env, run, run_due)


def create_app(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    digest = build(settings, clock=clock)
    runtime, store = digest.runtime, digest.store
    register_handlers(
        runtime.broker,
        runtime.topics,
        store=store,
        group_id=settings.consumer_group,
        dead_letters=runtime.dead_letters,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        scheduler = None
        if settings.scheduler:  # a replica may leave the weekly run to others
            scheduler = run_scheduler(digest.run_due, poll_seconds=settings.poll_seconds)
        async with (
            runtime.running(*CONSUMES, *PUBLISHES, consumer_group=settings.consumer_group),
            in_background(scheduler, name="weekly-scheduler"),
        ):
            yield

    return create_http_app(
        title="Vestnik digest",
        description="Weekly summaries by e-mail and on paper, the forecast, and extracts.",
        lifespan=lifespan,
        routers=[
            digest_router(digest, principal=authenticated(settings.jwt_secret, audience=SERVICE)),
            runtime.operations_router(),
        ],
    )
