"""The school's reports (issue 15) for a school of 1,000 students in 40 classes and 15
subjects: the digest's read model is filled directly through its stores (what its Kafka
handlers would write: the students, a quarter's final marks with some deferred and some
missing, a curriculum and a quarter's lessons held), then every class's reports are produced
the way `vestnik reports` produces them, one format at a time, and timed.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from schemas.curriculum import LessonHeldPayload, StudyPlanChangedPayload
from schemas.journal import FinalMarkDeferredPayload, FinalMarkPostedPayload, StudentChangedPayload
from services.digest.config import Settings
from services.digest.domain import Period
from services.digest.handlers import week_record
from services.digest.service import build
from services.digest.store import final_mark_slot
from services.digest.usecases import Reader, missing_finals, school_files, school_reports

STUDENTS = 1000
CLASSES = 40
SUBJECTS = [f"Предмет {n:02d}" for n in range(1, 16)]
QUARTER = Period("q2", "2 четверть", date(2026, 11, 5), date(2026, 12, 28), "2026/2027")
LESSONS_A_WEEK = 2  # of each subject: 30 lessons a week per class
BATCH = 500


async def measure(mongo_url: str, say: Callable[[str], None]) -> dict[str, Any]:
    database = f"bench_reports_{uuid.uuid4().hex[:6]}"
    digest = build(Settings(mongo_url=mongo_url, mongo_db=database, scheduler=False))
    school_id = "bench-reports"
    started = time.monotonic()
    try:
        await digest.store.ensure_indexes()
        await digest.week_store.ensure_indexes()
        counts = await _seed(digest, school_id)
        result: dict[str, Any] = {
            "students": STUDENTS,
            "classes": CLASSES,
            "subjects": len(SUBJECTS),
            **counts,
            "seed_seconds": round(time.monotonic() - started, 1),
        }
        say(f"  seeded {counts} in {result['seed_seconds']:.0f} s")
        steps: dict[str, float] = {}

        def progress(kind: str, done: int, begun: float) -> None:
            if done % 10 == 0:
                say(f"    {kind}: {done}/{CLASSES} classes, {time.monotonic() - begun:.1f} s")

        begun, done = time.monotonic(), 0
        async for _ in school_reports(digest, school_id, "q2", reader=Reader()):
            done += 1
            progress("json", done, begun)
        steps["json"] = round(time.monotonic() - begun, 2)
        # As `vestnik reports` renders: a worker process per core.
        workers = os.cpu_count() or 1
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            for kind in ("xlsx", "pdf"):
                begun, done = time.monotonic(), 0
                async for _ in school_files(
                    digest, school_id, "q2", [kind], pool=pool, at_once=2 * workers
                ):
                    done += 1
                    progress(kind, done, begun)
                steps[kind] = round(time.monotonic() - begun, 2)
        for kind in ("json", "xlsx", "pdf"):
            say(f"  every class's summary sheet and lesson statistics, {kind}: {steps[kind]} s")
        begun = time.monotonic()
        missing = await missing_finals(digest, school_id, "q2", reader=Reader()) or []
        steps["missing"] = round(time.monotonic() - begun, 2)
        say(f"  the school's {len(missing)} missing final marks: {steps['missing']} s")
        result["seconds"] = steps
        result["missing_found"] = len(missing)
        return result
    finally:
        client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
        await client.drop_database(database)
        await client.close()


async def _seed(digest: Any, school_id: str) -> dict[str, int]:
    store, week_store = digest.store, digest.week_store
    await store.put_school(school_id, "Школа", "Europe/Moscow", datetime(2026, 9, 1, tzinfo=UTC))
    await store.put_period(school_id, QUARTER)
    subject_ids = [f"s{n:02d}" for n in range(1, 16)]
    plan = StudyPlanChangedPayload.model_validate(
        {
            "school_id": school_id,
            "plan_id": "ooo",
            "name": "Учебный план ООО",
            "school_year": "2026/2027",
            "education_level": "basic",
            "subjects": [
                {
                    "subject_id": s,
                    "subject_name": name,
                    "grading": "pass_fail" if n == 14 else "marks",
                    "periods": [{"period_id": "q2", "hours": 16, "assessments": {"test": 1}}],
                }
                for n, (s, name) in enumerate(zip(subject_ids, SUBJECTS, strict=True))
            ],
        }
    )
    await week_store.put([week_record(_as_event(plan))])
    slots, finals, lessons = [], 0, 0
    per_class = STUDENTS // CLASSES
    for n in range(STUDENTS):
        class_id = f"c{n // per_class:02d}"
        student = StudentChangedPayload(
            school_id=school_id,
            student_id=f"st-{n:04d}",
            name=f"Ученик {n:04d}",
            class_id=class_id,
            class_name=f"Класс {n // per_class:02d}",
            education_level="basic",
        )
        await store.put_student(student)
        for k, (subject_id, name) in enumerate(zip(subject_ids, SUBJECTS, strict=True)):
            if (n + k) % 97 == 0:
                continue  # missing
            facts = {
                "school_id": school_id,
                "student_id": student.student_id,
                "student_name": student.name,
                "class_name": student.class_name,
                "subject_id": subject_id,
                "subject_name": name,
                "period_id": "q2",
                "period_name": "2 четверть",
                "period_kind": "quarter",
                "obtained_at": datetime(2026, 12, 26, 11, tzinfo=UTC),
                "final_mark_id": f"f-{n}-{k}",
            }
            if (n + k) % 89 == 0:
                final: Any = FinalMarkDeferredPayload(
                    **facts, deferred_until=date(2027, 1, 20), reason="болезнь"
                )
            else:
                value = "зачёт" if k == 14 else "54432"[(n * 7 + k) % 5]
                final = FinalMarkPostedPayload(**facts, value=value)
            slots.append(final_mark_slot(final))
            finals += 1
        if len(slots) >= BATCH:
            await store.apply(slots)
            slots = []
    await store.apply(slots)
    records = []
    days = [QUARTER.starts_on + timedelta(d) for d in range(54)]
    school_days = [d for d in days if d.isoweekday() <= 5]
    for c in range(CLASSES):
        for k, subject_id in enumerate(subject_ids):
            for w, day in enumerate(school_days[k % 2 :: 2][: LESSONS_A_WEEK * 8]):
                lesson = LessonHeldPayload(
                    school_id=school_id,
                    class_id=f"c{c:02d}",
                    class_name=f"Класс {c:02d}",
                    education_level="basic",
                    lesson_id=f"l-{c}-{subject_id}-{w}",
                    lesson_date=day,
                    lesson_number=1 + w % 2 + k % 6,
                    subject_id=subject_id,
                    subject_name=SUBJECTS[k],
                    teacher_id=f"t-{k}",
                    teacher_name=f"Учитель {k:02d}",
                    lesson_type="test" if w == 7 else "lesson",
                )
                records.append(week_record(_as_event(lesson)))
                lessons += 1
                if len(records) >= BATCH:
                    await week_store.put(records)
                    records = []
    await week_store.put(records)
    return {"final_marks": finals, "lessons_held": lessons}


def _as_event(payload: Any) -> Any:
    from schemas.curriculum import LessonHeld, StudyPlanChanged

    event = StudyPlanChanged if isinstance(payload, StudyPlanChangedPayload) else LessonHeld
    return event.new(payload, producer="bench")


def summary(result: dict[str, Any]) -> str:
    seconds = result["seconds"]
    return (
        "## The school's reports (issue 15)\n\n"
        f"A school of {result['students']} students in {result['classes']} classes and "
        f"{result['subjects']} subjects: {result['final_marks']} final marks, "
        f"{result['lessons_held']} lessons held; every class's summary sheet with its "
        "statistics and lesson statistics, in each format:\n\n"
        "| the whole school | seconds |\n|---|---:|\n"
        + "".join(
            f"| {label} | {seconds[key]:.1f} |\n"
            for key, label in (
                ("json", "JSON (sheets, statistics, lessons)"),
                ("xlsx", "XLSX workbooks"),
                ("pdf", "PDF, A4 landscape"),
                ("missing", "the missing final marks"),
            )
        )
    )


def plot(result: dict[str, Any], axis: Any) -> None:
    seconds = result["seconds"]
    labels = ["JSON", "XLSX", "PDF", "missing"]
    values = [seconds[k] for k in ("json", "xlsx", "pdf", "missing")]
    axis.barh(labels, values, color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"])
    for y, value in enumerate(values):
        axis.text(value, y, f" {value:.1f} s", va="center")
    axis.set_xlabel(f"seconds for a school of {result['students']} students, {CLASSES} classes")
    axis.set_title("Vestnik benchmark: the school's reports for a quarter")
