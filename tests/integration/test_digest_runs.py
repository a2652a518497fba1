"""The weekly run on the real database: one school's failure, or one student's, stops nothing
else (issue 12, defect 7)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from schemas.digest import WeeklyDigestCompiled, WeeklyDigestPayload
from schemas.journal import StudentChangedPayload
from services.digest.domain import Schedule
from services.digest.store import MongoDigestStore
from services.digest.weekly import run_due_weeks, run_week
from services.shared.mongo import Document

MOSCOW = ZoneInfo("Europe/Moscow")
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=MOSCOW)  # the run of 2026-W48 is due
WEEK = "2026-W48"


async def a_school(store: MongoDigestStore, school_id: str, students: int) -> None:
    await store.put_school(school_id, "Школа", "Europe/Moscow", datetime(2026, 9, 1, tzinfo=UTC))
    for n in range(1, students + 1):
        await store.put_student(
            StudentChangedPayload(
                school_id=school_id,
                student_id=f"st-{n}",
                name=f"Ученик {n}",
                class_id="5a",
                class_name="5А",
                education_level="basic",
            )
        )


async def test_a_failing_school_and_a_failing_student_stop_nothing_else(
    database: AsyncDatabase[Document],
) -> None:
    store = MongoDigestStore(database)
    await store.ensure_indexes()
    await a_school(store, "school-a", 2)
    await a_school(store, "school-b", 4)
    # School A has a period the digest cannot read: its run fails as a whole.
    await database["periods"].insert_one(
        {"_id": "school-a/q2", "school_id": "school-a", "name": "2 четверть"}
    )
    # In school B, st-2's record is damaged (a mark without its value), and the page of st-3
    # (on paper, with st-4) cannot be rendered.
    await database["students"].update_one(
        {"_id": "school-b/st-2"}, {"$set": {"marks.6d31": {"mark_id": "m1"}}}
    )
    await store.set_paper_only("school-b", "g-3", ("st-3", "st-4"), True)
    published: list[WeeklyDigestCompiled] = []

    async def publish_all(events: list[WeeklyDigestCompiled]) -> None:
        published.extend(events)

    def print_class(
        school: str, class_name: str, week: str, pages: list[WeeklyDigestPayload]
    ) -> bytes:
        if any(page.student_name == "Ученик 3" for page in pages):
            raise RuntimeError("a page the renderer chokes on")
        return b"%PDF-1.7 " + ",".join(page.student_id for page in pages).encode()

    run = partial(
        run_week,
        store=store,
        publish_all=publish_all,
        print_class=print_class,
        now=lambda: MONDAY,
        default_zone=MOSCOW,
    )
    failed = await run_due_weeks(store, Schedule(), MONDAY, MOSCOW, run=run)

    assert failed == [("school-a", WEEK)]
    assert sorted(e.payload.student_id for e in published) == ["st-1", "st-3", "st-4"]
    record = await store.run("school-b", WEEK)
    assert record is not None and record["status"] == "done"
    assert record["failures"] == [
        {"student_id": "st-2", "step": "read", "error": "KeyError"},
        {"student_id": "st-3", "step": "paper", "error": "RuntimeError"},
    ]
    printout = await store.printout("school-b", "5a", WEEK)
    assert printout is not None and bytes(printout["pdf"]).endswith(b"st-4")
    assert [s["student_id"] for s in printout["students"]] == ["st-4"]
