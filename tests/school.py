"""A small school, loaded through the services' own HTTP APIs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import AUTH, bearer

SCHOOL = "school-1"
REFERENCE: list[tuple[str, dict[str, Any]]] = [
    ("", {"name": "МБОУ «Школа № 1»", "timezone": "Europe/Moscow"}),
    ("/classes/5a", {"name": "5А", "education_level": "basic"}),
    ("/classes/6b", {"name": "6Б", "education_level": "basic"}),
    ("/subjects/math", {"name": "Математика"}),
    ("/subjects/russian", {"name": "Русский язык"}),
    ("/students/st-1", {"name": "Иванов Иван", "class_id": "5a"}),
    ("/students/st-2", {"name": "Смирнова Ольга", "class_id": "5a"}),
    ("/students/st-3", {"name": "Кузнецов Артём", "class_id": "6b"}),
    (
        "/teachers/t-1",
        {
            "name": "Петрова Анна Сергеевна",
            "assignments": [{"class_id": "5a", "subject_id": "math"}],
        },
    ),
    (
        "/teachers/t-2",
        {
            "name": "Соколов Игорь Павлович",
            "assignments": [{"class_id": "6b", "subject_id": "russian"}],
        },
    ),
    (
        "/periods/q2",
        {
            "name": "2 четверть",
            "period_kind": "quarter",
            "school_year": "2026/2027",
            "starts_on": "2026-11-05",
            "ends_on": "2026-12-28",
        },
    ),
]


def admin_of(school: str) -> dict[str, str]:
    return AUTH if school == SCHOOL else bearer("admin", school_id=school)


async def load_grades_reference(grades: httpx.AsyncClient, school: str = SCHOOL) -> None:
    """The same reference data under any school id: journals reuse ids across schools."""
    for path, body in REFERENCE:
        response = await grades.put(
            f"/v1/schools/{school}{path}", json=body, headers=admin_of(school)
        )
        assert response.status_code == 200, response.text


WRITTEN = {
    "form": "written",
    "document_number": "17",
    "document_date": "2026-09-02",
    "accepted_by": "Секретарь Сидорова Н. В.",
}


def a_consent(recipient_id: str, student_id: str, decision: str = "granted") -> dict[str, Any]:
    return {
        "recipient_id": recipient_id,
        "student_id": student_id,
        "decision": decision,
        "operator": "МБОУ «Школа № 1»",
        "purpose": "информирование о результатах обучения",
        "data_categories": ["ФИО", "оценки", "контакты"],
        "actions": ["сбор", "хранение"],
        "valid_from": "2026-09-01",
        "revocation_procedure": "письменное заявление",
        "proof": WRITTEN,
    }


async def load_guardian(
    consent: httpx.AsyncClient,
    guardian_id: str,
    name: str,
    student_id: str | tuple[str, ...],
    *,
    decision: str | None = "granted",
    email: str | None = None,
    phone: str | None = None,
    preferences: dict[str, Any] | None = None,
    school: str = SCHOOL,
) -> None:
    """A guardian as staff would register them: recipient, a consent per child, contacts,
    preferences."""
    base = f"/v1/schools/{school}"
    auth = admin_of(school)
    children = (student_id,) if isinstance(student_id, str) else student_id
    body = {"kind": "guardian", "name": name, "student_ids": list(children)}
    responses = [await consent.put(f"{base}/recipients/{guardian_id}", json=body, headers=auth)]
    for child in children if decision is not None else ():
        consent_id = f"c-{guardian_id}" if len(children) == 1 else f"c-{guardian_id}-{child}"
        responses.append(
            await consent.put(
                f"{base}/consents/{consent_id}",
                json=a_consent(guardian_id, child, decision or "granted"),
                headers=auth,
            )
        )
    for channel, address in (("email", email), ("sms", phone)):
        if address is not None:
            responses.append(
                await consent.put(
                    f"{base}/recipients/{guardian_id}/contacts/{channel}",
                    json={"address": address, "proof": WRITTEN},
                    headers=auth,
                )
            )
    if preferences is not None:
        responses.append(
            await consent.put(
                f"{base}/recipients/{guardian_id}/preferences", json=preferences, headers=auth
            )
        )
    for response in responses:
        assert response.status_code in (201, 204), response.text


def a_mark(mark_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "mark",
        "mark_id": mark_id,
        "student_id": "st-1",
        "subject_id": "math",
        "teacher_id": "t-1",
        "lesson_date": "2026-11-27",
        "value": "5",
        "work_type": "контрольная работа",
        "weight": 2,
        **changes,
    }


async def post_journal(
    grades: httpx.AsyncClient,
    *items: dict[str, Any],
    headers: dict[str, str] | None = None,
    school: str = SCHOOL,
) -> httpx.Response:
    return await grades.post(
        f"/v1/schools/{school}/journal",
        json={"items": list(items)},
        headers=admin_of(school) if headers is None else headers,
    )
