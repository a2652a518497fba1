"""The benchmark's district: schools, classes, students and one guardian each, loaded through
the services' own HTTP APIs, and the journal items that are pushed through it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

# Guardians: e-mail 55 %, e-mail and SMS 20 %, paper only 10 %, refused 8 %, no answer 7 %.
MIX = ((0.55, "email"), (0.75, "email+sms"), (0.85, "paper"), (0.93, "refused"), (1.0, "none"))
# What each choice is told of an ordinary mark, and of a final result (the SMS of an
# e-mail+SMS parent is dropped once the e-mail got through: clause 9's sequential fallback).
MARK_NOTICES = {"email": 2, "email+sms": 3, "paper": 0, "refused": 0, "none": 0}
FINAL_NOTICES = {"email": 2, "email+sms": 2, "paper": 0, "refused": 0, "none": 0}
# Of an ordinary mark, what reaches a provider (the SMTP and SMS sinks; the rest is the inbox).
MARK_MESSAGES = {"email": 1, "email+sms": 2, "paper": 0, "refused": 0, "none": 0}
SUBJECTS = [f"subject-{n:02d}" for n in range(15)]
WRITTEN = {
    "form": "written",
    "document_number": "1",
    "document_date": "2026-09-01",
    "accepted_by": "Секретарь",
}


@dataclass
class Student:
    student_id: str
    class_id: str
    guardian: str  # the guardian's choice, one of MIX


@dataclass
class School:
    school_id: str
    classes: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    students: list[Student] = field(default_factory=list)


@dataclass
class District:
    schools: list[School]

    @property
    def students(self) -> list[tuple[School, Student]]:
        return [(school, student) for school in self.schools for student in school.students]

    def notices_per_mark(self) -> float:
        students = self.students
        return sum(MARK_NOTICES[s.guardian] for _, s in students) / len(students)


def plan(schools: int, classes: int = 10, per_class: int = 25, *, tag: str = "") -> District:
    """`schools` × `classes` × `per_class` students, with the guardian mix of MIX."""
    rng = random.Random(2026)
    planned = []
    for s in range(schools):
        school = School(f"bench{tag}-school-{s}")
        for c in range(classes):
            class_id = f"s{s}-c{c}"
            school.classes.append((class_id, f"{5 + c % 7}{'АБВГ'[c % 4]}"))
            for n in range(per_class):
                roll = rng.random()
                choice = next(choice for limit, choice in MIX if roll < limit)
                school.students.append(Student(f"{class_id}-st{n:02d}", class_id, choice))
        planned.append(school)
    return District(planned)


def monday() -> date:
    today = datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


async def load(
    district: District,
    grades_url: str,
    consent_url: str,
    tokens: dict[str, str],
    *,
    concurrency: int = 8,
    guardians: Callable[[str, Student], list[tuple[str, dict[str, Any]]]] | None = None,
) -> None:
    """Reference data into grades and the guardians into consent, as a school's staff and
    journal would send them (several requests at a time). `guardians`: a guardian's calls
    (`guardian_calls` by default; the chaos run registers every consent state)."""
    calls_of = guardians or guardian_calls
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120) as http:

        async def put(url: str, body: dict[str, Any], token: str) -> None:
            async with limit:
                response = await http.put(url, json=body, headers={"Authorization": token})
                response.raise_for_status()

        for school in district.schools:
            auth = f"Bearer {tokens[school.school_id]}"
            base = f"{grades_url}/v1/schools/{school.school_id}"
            start = monday() - timedelta(days=30)
            await put(
                base, {"name": f"Школа {school.school_id}", "timezone": "Europe/Moscow"}, auth
            )
            ahead: list[tuple[str, dict[str, Any]]] = [
                (f"/subjects/{subject}", {"name": f"Предмет {n + 1}"})
                for n, subject in enumerate(SUBJECTS)
            ]
            ahead.append(
                (
                    "/periods/q2",
                    {
                        "name": "2 четверть",
                        "period_kind": "quarter",
                        "school_year": f"{start.year}/{start.year + 1}",
                        "starts_on": start.isoformat(),
                        "ends_on": (start + timedelta(days=60)).isoformat(),
                    },
                )
            )
            ahead += [
                (f"/classes/{class_id}", {"name": name, "education_level": "basic"})
                for class_id, name in school.classes
            ]
            await asyncio.gather(*(put(base + path, body, auth) for path, body in ahead))
            assignments = [
                {"class_id": c, "subject_id": s} for c, _ in school.classes for s in SUBJECTS
            ]
            await put(f"{base}/teachers/t-1", {"name": "Учитель", "assignments": assignments}, auth)
            await asyncio.gather(
                *(
                    put(
                        f"{base}/students/{s.student_id}",
                        {"name": f"Ученик {s.student_id}", "class_id": s.class_id},
                        auth,
                    )
                    for s in school.students
                )
            )

            async def register(school_id: str, student: Student, auth: str) -> None:
                for path, body in calls_of(school_id, student):
                    await put(consent_url + path, body, auth)  # the recipient first

            await asyncio.gather(
                *(register(school.school_id, student, auth) for student in school.students)
            )


def consent(recipient_id: str, student_id: str, decision: str) -> dict[str, Any]:
    """A consent's body for the registry, given in writing at the school."""
    return {
        "recipient_id": recipient_id,
        "student_id": student_id,
        "decision": decision,
        "operator": "Школа",
        "purpose": "информирование",
        "data_categories": ["оценки"],
        "actions": ["хранение"],
        "valid_from": "2026-09-01",
        "revocation_procedure": "заявление",
        "proof": WRITTEN,
    }


def guardian_calls(school_id: str, student: Student) -> list[tuple[str, dict[str, Any]]]:
    """A guardian's registration, in the order staff would do it: the recipient first."""
    base = f"/v1/schools/{school_id}"
    guardian, choice = f"g-{student.student_id}", student.guardian
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            f"{base}/recipients/{guardian}",
            {
                "kind": "guardian",
                "name": f"Родитель {student.student_id}",
                "student_ids": [student.student_id],
            },
        )
    ]
    if choice != "none":
        calls.append(
            (
                f"{base}/consents/c-{guardian}",
                consent(
                    guardian, student.student_id, "refused" if choice == "refused" else "granted"
                ),
            )
        )
    if choice in ("email", "email+sms", "refused"):
        calls.append(
            (
                f"{base}/recipients/{guardian}/contacts/email",
                {"address": f"{guardian}@example.org", "proof": WRITTEN},
            )
        )
    # Every parent takes SMS at any hour here: the figures must not depend on the time of day.
    prefs: dict[str, Any] = {"sms_quiet_hours": {"start": "00:00", "end": "00:00"}}
    if choice == "email+sms":
        number = 9_000_000 + int.from_bytes(student.student_id.encode()[-3:], "big") % 999_999
        calls.append(
            (
                f"{base}/recipients/{guardian}/contacts/sms",
                {"address": f"+7916{number:07d}", "proof": WRITTEN},
            )
        )
        prefs["channels"] = {"marks": ["email", "sms", "inbox"]}
    if choice == "paper":
        prefs["paper_only_reason"] = "нет интернета"
    calls.append((f"{base}/recipients/{guardian}/preferences", prefs))
    return calls


def marks(district: District, each: int, *, tag: str) -> dict[str, list[dict[str, Any]]]:
    """`each` ordinary marks per student, by school; ids carry `tag`."""
    rng = random.Random(tag)
    day = monday()
    items: dict[str, list[dict[str, Any]]] = {school.school_id: [] for school in district.schools}
    for school, student in district.students:
        for m in range(each):
            items[school.school_id].append(
                {
                    "kind": "mark",
                    "mark_id": f"{tag}-{student.student_id}-{m}",
                    "student_id": student.student_id,
                    "subject_id": SUBJECTS[m % len(SUBJECTS)],
                    "teacher_id": "t-1",
                    "lesson_date": (day + timedelta(days=m % 5)).isoformat(),
                    "value": rng.choice("2345"),
                    "work_type": "ответ на уроке",
                }
            )
    return items


def final_marks(district: District, *, tag: str) -> dict[str, list[dict[str, Any]]]:
    """A quarter's end: every student's final mark in every subject, obtained now."""
    rng = random.Random(tag)
    obtained = datetime.now(UTC).isoformat()
    items: dict[str, list[dict[str, Any]]] = {school.school_id: [] for school in district.schools}
    for school, student in district.students:
        for subject in SUBJECTS:
            items[school.school_id].append(
                {
                    "kind": "final_mark",
                    "final_mark_id": f"{tag}-{student.student_id}-{subject}",
                    "student_id": student.student_id,
                    "subject_id": subject,
                    "period_id": "q2",
                    "value": rng.choice("345"),
                    "obtained_at": obtained,
                }
            )
    return items


def expected_notices(district: District, per_student: dict[str, int], count: int) -> int:
    return sum(per_student[s.guardian] for _, s in district.students) * count
