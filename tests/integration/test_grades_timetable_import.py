"""`vestnik grades import --kind timetable_lesson`: a term's timetable (2,400 rows) through the
real service, with per-row errors, and every good row a `TimetableLessonChanged` on Kafka
(issue 13)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from schemas import Topics
from schemas.timetable import TimetableLessonChanged
from services.grades.importer import TIMETABLE_COLUMNS
from tests.grades_import import assert_imported_twice, grades_with_reference, import_twice
from tests.kafka_tools import read_topic
from tests.servers import Servers

ROWS = 2_400
# Row index → (column, bad value, the error's field and the start of its reason).
BAD_ROWS = {
    5: ("weekday", "8", "weekday", "Input should be less than or equal to 6"),
    700: ("class_id", "9z", "class_id", "no such class in this school"),
    1500: ("valid_to", "2026-08-01", "valid_to", "must not be before valid_from"),
    2399: ("teacher_id", "ghost", "teacher_id", "no such teacher in this school"),
}


def write_timetable(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(TIMETABLE_COLUMNS)
        for n in range(ROWS):
            class_id, subject_id, teacher_id = (("5a", "math", "t-1"), ("6b", "russian", "t-2"))[
                n % 2
            ]
            row = {
                "lesson_id": f"tt-{n:05d}",
                "class_id": class_id,
                "group_id": "",
                "weekday": str(n % 6 + 1),
                "lesson_number": str(n % 8 + 1),
                "week": ("every", "A", "B")[n % 3],
                "subject_id": subject_id,
                "teacher_id": teacher_id,
                "room": "" if n % 4 else str(200 + n % 20),
                "valid_from": "2026-09-01",
                "valid_to": "2026-12-28",
            }
            if n in BAD_ROWS:
                column, value, *_ = BAD_ROWS[n]
                row[column] = value
            writer.writerow([row[column] for column in TIMETABLE_COLUMNS])


async def test_a_terms_timetable_is_imported_with_per_row_errors_and_published(
    grades_process: dict,  # type: ignore[type-arg]
    servers: Servers,
    topics: Topics,
    tmp_path: Path,
) -> None:
    journal = await grades_with_reference(grades_process)
    path = tmp_path / "timetable.csv"
    write_timetable(path)

    first, again = import_twice(path, grades_process["url"], journal, "timetable_lesson")
    good = ROWS - len(BAD_ROWS)
    records = await read_topic(
        servers.kafka_bootstrap,
        topics.of(TimetableLessonChanged),
        at_least=good,
        timeout=120,
        settle=2.0,
    )

    rejected = {n: f"{field}: {reason}" for n, (_, _, field, reason) in BAD_ROWS.items()}
    assert_imported_twice(first, again, rows=ROWS, rejected=rejected)
    events = [json.loads(record.value) for record in records]
    assert {event["type"] for event in events} == {"TimetableLessonChanged"}
    lessons = [event["payload"]["lesson_id"] for event in events]
    assert len(lessons) == good == len(set(lessons))
    assert f"tt-{700:05d}" not in lessons
