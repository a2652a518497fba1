"""A tiny school to load through the services' own HTTP APIs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import AUTH

SCHOOL = "school-1"


async def load_grades_reference(grades: httpx.AsyncClient) -> None:
    for path, body in [
        ("/v1/students/st-1", {"school_id": SCHOOL, "name": "Иванов Иван", "class_name": "5А"}),
        ("/v1/students/st-2", {"school_id": SCHOOL, "name": "Смирнова Ольга", "class_name": "5А"}),
        ("/v1/subjects/math", {"school_id": SCHOOL, "name": "Математика"}),
        ("/v1/teachers/t-1", {"school_id": SCHOOL, "name": "Петрова Анна Сергеевна"}),
    ]:
        response = await grades.put(path, json=body, headers=AUTH)
        assert response.status_code == 204, response.text


async def load_guardians(
    consent: httpx.AsyncClient, *guardians: tuple[str, dict[str, Any]]
) -> None:
    for guardian_id, body in guardians:
        response = await consent.put(
            f"/v1/guardians/{guardian_id}", json={"school_id": SCHOOL, **body}, headers=AUTH
        )
        assert response.status_code == 204, response.text


def a_mark(mark_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "mark_id": mark_id,
        "school_id": SCHOOL,
        "student_id": "st-1",
        "subject_id": "math",
        "teacher_id": "t-1",
        "lesson_date": "2026-11-27",
        "value": "5",
        "work_type": "контрольная работа",
        "weight": 2,
        **changes,
    }
