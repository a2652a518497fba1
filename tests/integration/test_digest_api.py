"""The digest's HTTP API on the real broker and database: input it cannot use is a 422 naming
the field, lists come in pages, and a teacher reads only what they teach (issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from schemas import (
    Envelope,
    MarkPosted,
    SchoolChanged,
    StudentChanged,
    TeacherChanged,
)
from schemas.consent import PreferencesChanged, PreferencesChangedPayload
from schemas.journal import (
    SchoolChangedPayload,
    StudentChangedPayload,
    TeacherChangedPayload,
    TeachingAssignment,
)
from tests.builders import a_mark_posted
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually, produce_events
from tests.servers import Servers
from tests.services import running

SCHOOL = "school-1"
WEEK = "2026-W48"
STUDENTS = {"st-1": "5a", "st-2": "5a", "st-3": "5b"}  # student → class
TEACHER = bearer("teacher", person_id="t-1")  # teaches mathematics in 5a only


def the_school() -> list[Envelope[Any]]:
    """A school, three students in two classes, marks in two subjects, a teacher of one
    subject in one class, and a family on paper for all three."""
    events: list[Envelope[Any]] = [
        SchoolChanged.new(
            SchoolChangedPayload(school_id=SCHOOL, name="Школа", timezone="Europe/Moscow"),
            producer="grades",
        ),
        TeacherChanged.new(
            TeacherChangedPayload(
                school_id=SCHOOL,
                teacher_id="t-1",
                name="Петрова Анна Сергеевна",
                assignments=(TeachingAssignment(class_id="5a", subject_id="math"),),
            ),
            producer="grades",
        ),
        PreferencesChanged.new(
            PreferencesChangedPayload(
                school_id=SCHOOL,
                recipient_id="g-1",
                paper_only=True,
                student_ids=tuple(STUDENTS),
                effective_at=datetime.now(UTC),
            ),
            producer="consent",
        ),
    ]
    for student_id, class_id in STUDENTS.items():
        name, class_name = f"Ученик {student_id}", class_id.replace("a", "А").replace("b", "Б")
        events.append(
            StudentChanged.new(
                StudentChangedPayload(
                    school_id=SCHOOL,
                    student_id=student_id,
                    name=name,
                    class_id=class_id,
                    class_name=class_name,
                    education_level="basic",
                ),
                producer="grades",
            )
        )
        for subject_id, subject_name in (("math", "Математика"), ("rus", "Русский язык")):
            events.append(
                MarkPosted.new(
                    a_mark_posted(
                        student_id=student_id,
                        mark_id=f"m-{student_id}-{subject_id}",
                        student_name=name,
                        class_name=class_name,
                        subject_id=subject_id,
                        subject_name=subject_name,
                        lesson_date=date(2026, 11, 24),
                    ),
                    producer="grades",
                )
            )
    return events


@pytest.fixture
async def digest(
    servers: Servers, service_env: dict[str, object], run_id: str
) -> AsyncIterator[httpx.AsyncClient]:
    # Mid-December: the printouts of November's weeks are all late.
    clock = {"clock": lambda: datetime(2026, 12, 10, tzinfo=UTC)}
    async with running("digest", run_id, clock, scheduler=False, **service_env) as client:
        await produce_events(servers.kafka_bootstrap, the_school(), f"{run_id}.")

        async def loaded() -> bool:
            for student_id in STUDENTS:
                week = await client.get(
                    f"/v1/schools/{SCHOOL}/students/{student_id}/weeks/{WEEK}", headers=AUTH
                )
                if week.status_code != 200 or len(week.json()["subjects"]) < 2:
                    return False
            paper = await client.get(f"/v1/schools/{SCHOOL}/paper/students", headers=AUTH)
            return paper.status_code == 200 and len(paper.json()["items"]) == len(STUDENTS)

        await eventually(loaded, timeout=60)
        yield client


def names_the_field(response: httpx.Response, *loc: str) -> bool:
    """A 422 in the one error shape, naming the field."""
    detail = response.json()["detail"]
    return response.status_code == 422 and [e["loc"] for e in detail] == [list(loc)]


async def test_weeks_that_are_not_iso_weeks_and_dates_out_of_range_are_422s_naming_the_field(
    digest: httpx.AsyncClient,
) -> None:
    base = f"/v1/schools/{SCHOOL}"
    assert (
        await digest.get(f"{base}/students/st-1/weeks/2026-W53", headers=AUTH)
    ).status_code == 200
    for week in ("2026-W54", "2026-W00", "2027-W53", "0000-W01", "9999-W52"):
        answer = await digest.get(f"{base}/students/st-1/weeks/{week}", headers=AUTH)
        assert names_the_field(answer, "path", "week"), (week, answer.text)
        answer = await digest.post(f"{base}/weekly-runs/{week}", headers=AUTH)
        assert names_the_field(answer, "path", "week"), (week, answer.text)
        answer = await digest.get(f"{base}/paper/5a/{week}.pdf", headers=AUTH)
        assert names_the_field(answer, "path", "week"), (week, answer.text)
    extract = f"{base}/students/st-1/extract.pdf"
    early = await digest.get(
        extract, params={"from": "0999-12-01", "to": "1000-01-31"}, headers=AUTH
    )
    assert names_the_field(early, "query", "from"), early.text
    late = await digest.get(
        extract, params={"from": "9999-12-01", "to": "9999-12-31"}, headers=AUTH
    )
    assert late.status_code == 422, late.text
    assert [e["loc"] for e in late.json()["detail"]] == [["query", "from"], ["query", "to"]]
    backwards = await digest.get(
        extract, params={"from": "2026-11-30", "to": "2026-11-01"}, headers=AUTH
    )
    assert names_the_field(backwards, "query", "to"), backwards.text
    rules = f"{base}/forecast-rules"
    for body, field in (
        ('{"five_from": NaN}', "five_from"),
        ('{"work_type_weights": {"x": 1e308}}', "work_type_weights"),
        ('{"five_from": 4.0, "four_from": 4.5}', "four_from"),
    ):
        answer = await digest.put(
            rules, content=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert answer.status_code == 422 and field in str(answer.json()["detail"]), (
            body,
            answer.text,
        )
        assert isinstance(answer.json()["detail"], list), answer.text


async def test_inputs_are_bounded_and_every_list_comes_in_pages(
    digest: httpx.AsyncClient,
) -> None:
    base = f"/v1/schools/{SCHOOL}"
    many = {f"работа {n}": 1.0 for n in range(51)}
    answer = await digest.put(
        f"{base}/forecast-rules", json={"work_type_weights": many}, headers=AUTH
    )
    assert names_the_field(answer, "body", "work_type_weights"), answer.text
    answer = await digest.put(
        f"{base}/forecast-rules", json={"work_type_weights": {"x" * 101: 1}}, headers=AUTH
    )
    assert answer.status_code == 422, answer.text

    for week in ("2026-W46", "2026-W47", WEEK):
        ran = await digest.post(f"{base}/weekly-runs/{week}", headers=AUTH)
        assert ran.json()["ran"], ran.text

    async def every_page(path: str, limit: int) -> list[list[Any]]:
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = (await digest.get(f"{base}/{path}", params=params, headers=AUTH)).json()
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return pages

    runs = await every_page("weekly-runs", 2)
    assert [[r["week"] for r in page] for page in runs] == [[WEEK, "2026-W47"], ["2026-W46"]]
    on_paper = await every_page("paper/students", 2)
    assert on_paper == [["st-1", "st-2"], ["st-3"]]
    late = await every_page("paper/not-handed-over", 4)  # three weeks, three students
    assert [len(page) for page in late] == [4, 4, 1]
    flat = [(s["week"], s["class_id"], s["student_id"]) for page in late for s in page]
    assert len(set(flat)) == 9
    bad = await digest.get(f"{base}/weekly-runs", params={"cursor": "not-ours"}, headers=AUTH)
    assert names_the_field(bad, "query", "cursor"), bad.text
    too_many = await digest.get(f"{base}/weekly-runs", params={"limit": 100_000}, headers=AUTH)
    assert names_the_field(too_many, "query", "limit"), too_many.text


async def test_a_teacher_reads_only_the_classes_and_subjects_they_teach(
    digest: httpx.AsyncClient,
) -> None:
    base = f"/v1/schools/{SCHOOL}"
    mine = await digest.get(f"{base}/students/st-1/weeks/{WEEK}", headers=TEACHER)
    assert mine.status_code == 200, mine.text
    assert [s["subject_id"] for s in mine.json()["subjects"]] == ["math"]
    assert (await digest.post(f"{base}/weekly-runs/{WEEK}", headers=AUTH)).json()["ran"]
    # Another class, a student nobody has heard of, the runs: the same 403 for all.
    for path in (
        f"students/st-3/weeks/{WEEK}",
        f"students/st-9/weeks/{WEEK}",
        "students/st-3/extract.pdf?from=2026-11-01&to=2026-11-30",
        f"paper/5b/{WEEK}.pdf",
        "weekly-runs",
    ):
        answer = await digest.get(f"{base}/{path}", headers=TEACHER)
        assert answer.status_code == 403, (path, answer.text)
    handed = await digest.post(
        f"{base}/paper/5b/{WEEK}/hand-overs", json={"student_id": "st-3"}, headers=TEACHER
    )
    assert handed.status_code == 403, handed.text
    late = await digest.get(f"{base}/paper/not-handed-over", headers=TEACHER)
    assert [s["student_id"] for s in late.json()["items"]] == ["st-1", "st-2"]
    on_paper = await digest.get(f"{base}/paper/students", headers=TEACHER)
    assert on_paper.json()["items"] == ["st-1", "st-2"]
    assert (await digest.get(f"{base}/paper/5a/{WEEK}.pdf", headers=TEACHER)).status_code == 200
    unknown = await digest.get(f"{base}/students/st-9/weeks/{WEEK}", headers=AUTH)
    assert unknown.status_code == 404  # staff may know that there is no such student
