"""A school's term for tests of clause 4 (issue 13): its reference records (two classes, 5А's
English split into two groups, a student on an individual curriculum), bells, calendar, a
weekday timetable and a test schedule, dated around today; loaded through grades' HTTP API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import AUTH

SCHOOL = "school-1"
MOSCOW = ZoneInfo("Europe/Moscow")
DAY = timedelta(days=1)

STUDENTS = {
    "st-1": ("Иванов Иван", "5a"),  # English group 1
    "st-4": ("Иванова Мария", "5a"),  # English group 1, Ivan's sister
    "st-2": ("Смирнова Ольга", "5a"),  # English group 2
    "st-5": ("Орлов Никита", "5a"),  # individual curriculum: maths and English (group 2)
    "st-3": ("Кузнецов Артём", "6b"),
}


def school_year(today: date) -> int:
    """The calendar year today's school year starts in (September to August)."""
    return today.year if today.month >= 9 else today.year - 1


def term_span(today: date) -> tuple[date, date]:
    """Two months either side of today, within today's school year."""
    first = school_year(today)
    return (
        max(today - 60 * DAY, date(first, 9, 1)),
        min(today + 60 * DAY, date(first + 1, 8, 31)),
    )


def reference(today: date) -> list[tuple[str, dict[str, Any]]]:
    start, end = term_span(today)
    return [
        ("", {"name": "МБОУ «Школа № 1»", "timezone": "Europe/Moscow"}),
        ("/classes/5a", {"name": "5А", "education_level": "basic"}),
        ("/classes/6b", {"name": "6Б", "education_level": "basic"}),
        *[
            (f"/subjects/{subject_id}", {"name": name})
            for subject_id, name in (
                ("math", "Математика"),
                ("en", "Английский язык"),
                ("music", "Музыка"),
                ("russian", "Русский язык"),
            )
        ],
        *[
            (f"/students/{student_id}", {"name": name, "class_id": class_id})
            for student_id, (name, class_id) in STUDENTS.items()
        ],
        (
            "/teachers/t-1",
            {
                "name": "Петрова Анна Сергеевна",
                "assignments": [
                    {"class_id": "5a", "subject_id": "math"},
                    {"class_id": "6b", "subject_id": "math"},
                ],
            },
        ),
        (
            "/teachers/t-2",
            {
                "name": "Белова Ирина Олеговна",
                "assignments": [{"class_id": "5a", "subject_id": "en"}],
            },
        ),
        (
            "/teachers/t-3",
            {"name": "Грин Джон", "assignments": [{"class_id": "5a", "subject_id": "en"}]},
        ),
        (
            "/teachers/t-4",
            {
                "name": "Соколов Игорь Павлович",
                "assignments": [
                    {"class_id": "5a", "subject_id": "music"},
                    {"class_id": "6b", "subject_id": "russian"},
                ],
            },
        ),
        (
            "/periods/q2",
            {
                "name": "2 четверть",
                "period_kind": "quarter",
                "school_year": f"{school_year(today)}/{school_year(today) + 1}",
                "starts_on": start.isoformat(),
                "ends_on": end.isoformat(),
            },
        ),
    ]


def term(today: date) -> list[tuple[str, dict[str, Any]]]:
    """The term's reference records: groups, the individual curriculum, bells, calendar."""
    start, end = term_span(today)
    first = school_year(today)
    year = f"{first}/{first + 1}"
    return [
        *[
            (
                f"/groups/5a-en-{n}",
                {
                    "class_id": "5a",
                    "name": f"Английский, группа {n}",
                    "group_kind": "subject_split",
                    "subject_id": "en",
                    "student_ids": students,
                    "teacher_ids": [teacher],
                },
            )
            for n, students, teacher in ((1, ["st-1", "st-4"], "t-2"), (2, ["st-2"], "t-3"))
        ],
        (
            "/curricula/st-5",
            {
                "school_year": year,
                "education_level": "basic",
                "valid_from": start.isoformat(),
                "valid_to": end.isoformat(),
                "subjects": [
                    {"subject_id": "math", "teacher_id": "t-1"},
                    {"subject_id": "en", "group_id": "5a-en-2"},
                ],
            },
        ),
        (
            "/bell-schedules/main",
            {
                "name": "Основное расписание звонков",
                "bells": [
                    {
                        "lesson_number": n,
                        "starts_at": f"{7 + n:02d}:30",
                        "ends_at": f"{8 + n:02d}:15",
                    }
                    for n in range(1, 8)
                ],
            },
        ),
        (
            f"/calendars/{first}",
            {
                "school_year": year,
                "starts_on": start.isoformat(),
                "ends_on": end.isoformat(),
                "non_school_days": [
                    {
                        "name": "Зимние каникулы",
                        "days_kind": "holidays",
                        "starts_on": (today + 30 * DAY).isoformat(),
                        "ends_on": (today + 40 * DAY).isoformat(),
                    }
                ],
            },
        ),
    ]


def timetable(today: date) -> list[dict[str, Any]]:
    """Every weekday: 5А has maths, English in two groups at once, and music; 6Б maths and
    Russian."""
    start, end = term_span(today)

    def lesson(
        class_id: str, day: int, number: int, subject: str, teacher: str, group: str | None = None
    ) -> dict[str, Any]:
        return {
            "kind": "timetable_lesson",
            "lesson_id": f"tt-{class_id}-{group or 'all'}-{day}-{number}",
            "class_id": class_id,
            **({"group_id": group} if group else {}),
            "weekday": day,
            "lesson_number": number,
            "subject_id": subject,
            "teacher_id": teacher,
            "room": str(200 + number),
            "valid_from": start.isoformat(),
            "valid_to": end.isoformat(),
        }

    lessons = []
    for day in range(1, 7):
        lessons += [
            lesson("5a", day, 1, "math", "t-1"),
            lesson("5a", day, 2, "en", "t-2", "5a-en-1"),
            lesson("5a", day, 2, "en", "t-3", "5a-en-2"),
            lesson("5a", day, 5, "music", "t-4"),
            lesson("6b", day, 1, "russian", "t-4"),
            lesson("6b", day, 2, "math", "t-1"),
        ]
    return lessons


def planned_assessments(today: date) -> list[dict[str, Any]]:
    return [
        {
            "kind": "assessment",
            "assessment_id": f"a-{class_id}-math",
            "assessment_kind": "test",
            "title": "Контрольная работа «Дроби»",
            "class_id": class_id,
            "subject_id": "math",
            "teacher_id": "t-1",
            "period_id": "q2",
            "assessment_date": (today + 10 * DAY).isoformat(),
            "lesson_number": 1 if class_id == "5a" else 2,
        }
        for class_id in ("5a", "6b")
    ]


async def put_all(grades: httpx.AsyncClient, records: list[tuple[str, dict[str, Any]]]) -> None:
    for path, body in records:
        response = await grades.put(f"/v1/schools/{SCHOOL}{path}", json=body, headers=AUTH)
        assert response.status_code == 200, (path, response.text)


async def load_term(grades: httpx.AsyncClient, today: date) -> None:
    """The term's reference records, then its timetable and test schedule as a load."""
    await put_all(grades, term(today))
    loaded = await grades.post(
        f"/v1/schools/{SCHOOL}/journal",
        json={"items": [*timetable(today), *planned_assessments(today)], "announce": False},
        headers=AUTH,
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["summary"]["accepted"] == 36 + 2, loaded.text
