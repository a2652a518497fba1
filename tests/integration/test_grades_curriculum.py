"""Clause 7 through the grades service on the real broker and database (issue 15): the
curriculum by PUT, published once; the lessons held as journal items, by the API and by the CSV
import, each new or removed lesson one event and a resend none."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import httpx

from schemas import Topics
from schemas.curriculum import LessonHeld, StudyPlanChanged
from services.grades.importer import LESSON_HELD_COLUMNS
from services.grades.week_examples import WEEK_ITEM_EXAMPLES
from tests.conftest import AUTH, bearer
from tests.grades_import import assert_imported_twice, grades_with_reference, import_twice
from tests.kafka_tools import read_topic
from tests.school import SCHOOL, load_grades_reference, post_journal
from tests.servers import Servers
from tests.services import running

BASE = f"/v1/schools/{SCHOOL}"
PLAN: dict[str, Any] = {
    "school_year": "2026/2027",
    "education_level": "basic",
    "name": "Учебный план ООО, 5-е классы",
    "class_ids": ["5a"],
    "subjects": [
        {
            "subject_id": "math",
            "periods": [{"period_id": "q2", "hours": 40, "assessments": {"test": 2}}],
        },
        {
            "subject_id": "russian",
            "grading": "pass_fail",
            "periods": [{"period_id": "q2", "hours": 8}],
        },
    ],
}
# The OpenAPI example: a test of 5А in mathematics by t-1.
LESSON = {
    **next(raw for raw in WEEK_ITEM_EXAMPLES if raw["kind"] == "lesson_held"),
    "lesson_id": "l-1",
}


def statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["status"] for item in response.json()["items"]]


async def test_the_curriculum_and_the_lessons_held_are_published_once_each(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    plan_path = f"{BASE}/study-plans/ooo-5"
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        put = [(await grades.put(plan_path, json=PLAN, headers=AUTH)).json() for _ in range(2)]
        unknown_subject = await grades.put(
            plan_path,
            json={**PLAN, "subjects": [PLAN["subjects"][0], {"subject_id": "chem"}]},
            headers=AUTH,
        )
        zero_tests = await grades.put(
            plan_path,
            json={
                **PLAN,
                "subjects": [
                    {
                        "subject_id": "math",
                        "periods": [{"period_id": "q2", "hours": 40, "assessments": {"test": 0}}],
                    }
                ],
            },
            headers=AUTH,
        )
        unknown_school = await grades.put(
            "/v1/schools/school-9/study-plans/ooo-5",
            json=PLAN,
            headers=bearer("admin", "school-9"),
        )
        answers = [
            statuses(await post_journal(grades, *sent))
            for sent in (
                [LESSON, {**LESSON, "lesson_id": "l-2", "lesson_type": "exam"}],
                [LESSON],  # a resend: nothing published
                [{"kind": "lesson_held_removal", "lesson_id": "l-1"}],
            )
        ]
        bad = await post_journal(grades, {**LESSON, "lesson_id": "l-3", "lesson_type": "exam"})
        plans = await read_topic(
            servers.kafka_bootstrap, topics.of(StudyPlanChanged), at_least=1, settle=1.5
        )
        lessons = await read_topic(
            servers.kafka_bootstrap, topics.of(LessonHeld), at_least=2, settle=1.5
        )

    assert [answer["status"] for answer in put] == ["created", "unchanged"]
    assert unknown_subject.status_code == 422
    assert unknown_subject.json()["detail"][0]["loc"] == ["body", "subjects", "1", "subject_id"]
    assert zero_tests.status_code == 422
    loc = zero_tests.json()["detail"][0]["loc"]
    assert loc == ["body", "subjects", 0, "periods", 0, "assessments", "test"]
    assert unknown_school.status_code == 404
    assert answers == [["accepted", "rejected"], ["duplicate"], ["retracted"]]
    [error] = bad.json()["items"][0]["errors"]
    assert error["field"] == "lesson_type"
    [plan] = [StudyPlanChanged.model_validate_json(record.value) for record in plans]
    assert plan.payload.record_version == 1
    assert [(s.subject_name, s.grading) for s in plan.payload.subjects] == [
        ("Математика", "marks"),
        ("Русский язык", "pass_fail"),
    ]
    assert plans[0].key == SCHOOL.encode()
    events = [json.loads(record.value) for record in lessons]
    assert [event["type"] for event in events] == ["LessonHeld", "LessonHeldRemoved"]
    held = LessonHeld.model_validate(events[0]).payload
    assert (held.class_name, held.education_level, held.subject_name, held.teacher_name) == (
        "5А",
        "basic",
        "Математика",
        "Петрова Анна Сергеевна",
    )
    assert (held.lesson_type, held.record_version) == ("test", 1)
    assert events[1]["payload"]["record_version"] == 2
    assert lessons[0].key == f"{SCHOOL}/5a".encode()


ROWS = 60
BAD_ROWS = {
    7: ("lesson_type", "exam", "lesson_type"),
    30: ("teacher_id", "ghost", "teacher_id"),
}


def write_lessons(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(LESSON_HELD_COLUMNS)
        for n in range(ROWS):
            row = {
                "lesson_id": f"l-{n:03d}",
                "class_id": ("5a", "6b")[n % 2],
                "group_id": "",
                "lesson_date": f"2026-11-{n // 6 + 9:02d}",
                "lesson_number": str(n % 6 + 1),
                "subject_id": ("math", "russian")[n % 2],
                "teacher_id": ("t-1", "t-2")[n % 2],
                "lesson_type": "" if n % 10 else "test",
                "topic": "" if n % 3 else f"Тема {n}",
            }
            if n in BAD_ROWS:
                column, value, _ = BAD_ROWS[n]
                row[column] = value
            writer.writerow([row[column] for column in LESSON_HELD_COLUMNS])


async def test_the_lessons_held_are_imported_from_a_csv_with_per_row_errors(
    grades_process: dict,  # type: ignore[type-arg]
    servers: Servers,
    topics: Topics,
    tmp_path: Path,
) -> None:
    journal = await grades_with_reference(grades_process)
    path = tmp_path / "lessons.csv"
    write_lessons(path)

    first, again = import_twice(path, grades_process["url"], journal, "lesson_held")
    good = ROWS - len(BAD_ROWS)
    records = await read_topic(
        servers.kafka_bootstrap, topics.of(LessonHeld), at_least=good, timeout=60, settle=2.0
    )

    rejected = {n: f"{field}: " for n, (_, _, field) in BAD_ROWS.items()}
    assert_imported_twice(first, again, rows=ROWS, rejected=rejected)
    events = [LessonHeld.model_validate_json(record.value).payload for record in records]
    assert len(events) == good == len({event.lesson_id for event in events})
    by_id = {event.lesson_id: event for event in events}
    assert (by_id["l-000"].lesson_type, by_id["l-000"].topic) == ("test", "Тема 0")
    assert (by_id["l-001"].lesson_type, by_id["l-001"].topic) == ("lesson", None)
    assert by_id["l-001"].teacher_name == "Соколов Игорь Павлович"
