"""Clause 4's read side on the real broker and database (issue 13): the digest consumes the
timetable, lesson changes, tests, homework, calendar, groups, curricula and teachers, and
answers a student's week, a class's teachers and the calendar; a parent reads only their own
children; the weekly run prints the new sections on the paper page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from schemas.classwork import HomeworkRetracted, HomeworkRetractedPayload
from schemas.consent import (
    ConsentRevoked,
    ConsentRevokedPayload,
    PreferencesChanged,
    PreferencesChangedPayload,
)
from schemas.digest import WeeklyDigestCompiled
from schemas.timetable import (
    LessonChangeCorrected,
    LessonChangeCorrectedPayload,
    LessonChangeRetracted,
    LessonChangeRetractedPayload,
)
from services.digest.handlers import week_record
from services.digest.week_store import MongoWeekStore
from services.shared.mongo import Document
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually, produce_events, read_topic
from tests.school_week import (
    FIVE_A,
    SCHOOL,
    WEEK,
    consent_of,
    day,
    pdf_pages,
    reference,
    term,
)
from tests.servers import Servers
from tests.services import running

BASE = f"/v1/schools/{SCHOOL}"
PARENT = bearer("parent", person_id="g-1")  # st-1's guardian
TEACHER = bearer("teacher", person_id="t-1")  # teaches 5А and 1А
STRANGER = bearer("teacher", person_id="t-9")  # teaches nothing


def late_and_corrected() -> list[Any]:
    """Version 3 of the substitution, then version 2 arriving late; the extra lesson and the
    music homework taken back; a consent granted, then revoked (g-2 for st-2)."""
    substitution = {
        **FIVE_A,
        "change_id": "ch-1",
        "change": "substitution",
        "lesson_date": day(0),
        "lesson_number": 1,
        "subject_id": "math",
        "subject_name": "Математика",
        "previous_change": "substitution",
        "previous_lesson_date": day(0),
        "reason": "болезнь учителя",
    }
    return [
        LessonChangeCorrected.new(
            LessonChangeCorrectedPayload(
                **substitution, substitute_teacher_name="Волкова Е. П.", record_version=3
            ),
            producer="grades",
        ),
        LessonChangeCorrected.new(
            LessonChangeCorrectedPayload(
                **substitution, substitute_teacher_name="Зайцев И. И.", record_version=2
            ),
            producer="grades",
        ),
        LessonChangeRetracted.new(
            LessonChangeRetractedPayload(
                **FIVE_A,
                change_id="ch-4",
                change="extra",
                lesson_date=day(3),
                lesson_number=5,
                subject_id="math",
                subject_name="Математика",
                reason="подготовка к контрольной",
                record_version=2,
            ),
            producer="grades",
        ),
        HomeworkRetracted.new(
            HomeworkRetractedPayload(
                **FIVE_A,
                homework_id="h-3",
                subject_id="music",
                subject_name="Музыка",
                teacher_name="Петрова А. С.",
                lesson_date=day(0),
                due_on=day(7),
                text="Послушать «Времена года»",
                record_version=2,
            ),
            producer="grades",
        ),
        consent_of("g-1", "st-1"),
        consent_of("g-2", "st-2"),
        ConsentRevoked.new(
            ConsentRevokedPayload(
                school_id=SCHOOL,
                recipient_id="g-2",
                consent_id="c-g-2-st-2",
                student_id="st-2",
                effective_at=datetime(2026, 10, 1, tzinfo=UTC),
            ),
            producer="consent",
        ),
        PreferencesChanged.new(
            PreferencesChangedPayload(
                school_id=SCHOOL,
                recipient_id="g-1",
                paper_only=True,
                student_ids=("st-1",),
                effective_at=datetime(2026, 9, 1, tzinfo=UTC),
            ),
            producer="consent",
        ),
    ]


@pytest.fixture
async def digest(
    servers: Servers, service_env: dict[str, object], run_id: str
) -> AsyncIterator[httpx.AsyncClient]:
    clock = {"clock": lambda: datetime(2026, 12, 4, 14, 0, tzinfo=UTC)}
    async with running("digest", run_id, clock, scheduler=False, **service_env) as client:
        prefix = f"{run_id}."
        await produce_events(servers.kafka_bootstrap, reference() + term(), prefix)
        await produce_events(servers.kafka_bootstrap, late_and_corrected(), prefix)

        async def loaded() -> bool:
            week = await client.get(
                f"{BASE}/students/st-1/week", params={"week": WEEK}, headers=PARENT
            )
            if week.status_code != 200:
                return False
            days = week.json()["days"]
            monday = [x["teacher_name"] for x in days[0]["lessons"]]
            teachers = await client.get(f"{BASE}/classes/5a/teachers", headers=AUTH)
            return (
                monday[:1] == ["Волкова Е. П."]
                and days[3]["lessons"] == []
                and len(days[0]["homework_set"]) == 2
                and days[4]["non_school"] is not None
                and teachers.status_code == 200
                and len(teachers.json()["items"]) == 6
                and (await client.get(f"{BASE}/paper/students", headers=AUTH)).json()["items"]
                == ["st-1"]
                and (
                    await client.get(
                        f"{BASE}/students/st-2/week",
                        params={"week": WEEK},
                        headers=bearer("parent", person_id="g-2"),
                    )
                ).status_code
                == 403
            )

        await eventually(loaded, timeout=90)
        yield client


async def test_a_student_s_week_has_the_changes_applied_and_the_latest_versions(
    digest: httpx.AsyncClient,
) -> None:
    answer = await digest.get(f"{BASE}/students/st-1/week", params={"week": WEEK}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    week = answer.json()
    assert (week["student_name"], week["class_name"], week["week_parity"]) == (
        "Иванов Иван",
        "5А",
        "B",
    )
    days = week["days"]
    assert days[0]["day"] == "2026-11-30" and len(days) == 7
    monday = days[0]["lessons"]
    assert [(x["lesson_number"], x["subject_name"], x["status"]) for x in monday] == [
        (1, "Математика", "substituted"),
        (2, "Английский язык", "cancelled"),
        (3, "Музыка", "moved_out"),
    ]
    assert monday[0]["starts_at"] == "08:30:00" and monday[0]["change"]["reason"] == (
        "болезнь учителя"
    )
    assert [(x["lesson_number"], x["status"]) for x in days[2]["lessons"]] == [(4, "moved_in")]
    assert [x["subject_name"] for x in days[1]["lessons"]] == ["Русский язык"]  # a B week
    assert days[3]["lessons"] == []  # the extra lesson was taken back
    assert days[4]["non_school"] == {"name": "Методический день", "days_kind": "other"}
    assert [t["kind_label"] for t in days[2]["tests"]] == ["проверочная работа"]
    assert [h["text"] for h in days[2]["homework_due"]] == ["№ 245, 247"]
    # An individual curriculum: no music, English with group 2.
    third = await digest.get(f"{BASE}/students/st-3/week", params={"week": WEEK}, headers=AUTH)
    assert [(x["subject_name"], x["group_id"]) for x in third.json()["days"][0]["lessons"]] == [
        ("Математика", None),
        ("Английский язык", "en-2"),
    ]


async def test_parents_read_their_own_children_only_and_teachers_their_classes(
    digest: httpx.AsyncClient,
) -> None:
    def week(student_id: str) -> str:
        return f"{BASE}/students/{student_id}/week?week={WEEK}"

    assert (await digest.get(week("st-1"), headers=PARENT)).status_code == 200
    for student_id in ("st-2", "st-4", "st-99"):
        answer = await digest.get(week(student_id), headers=PARENT)
        assert answer.status_code == 403, (student_id, answer.text)

    # The extract (the personal account downloads it with the parent's token): the same rule.
    def extract(student_id: str) -> str:
        return f"{BASE}/students/{student_id}/extract.pdf?from=2026-09-01&to=2026-12-04"

    own = await digest.get(extract("st-1"), headers=PARENT)
    assert own.status_code == 200 and own.content.startswith(b"%PDF"), own.text[:200]
    for student_id in ("st-2", "st-4", "st-99"):
        answer = await digest.get(extract(student_id), headers=PARENT)
        assert answer.status_code == 403, (student_id, answer.text)
    assert (
        await digest.get(extract("st-2"), headers=bearer("parent", person_id="g-2"))
    ).status_code == 403
    revoked = await digest.get(week("st-2"), headers=bearer("parent", person_id="g-2"))
    assert revoked.status_code == 403
    foreign = await digest.get(week("st-1"), headers=bearer("parent", "school-2", "g-1"))
    assert foreign.status_code == 403
    assert (await digest.get(week("st-99"), headers=AUTH)).status_code == 404
    assert (await digest.get(week("st-4"), headers=TEACHER)).status_code == 200
    assert (await digest.get(week("st-1"), headers=STRANGER)).status_code == 403
    assert (await digest.get(week("st-99"), headers=STRANGER)).status_code == 403
    for bad in ("2026-W54", "2026-49", ""):
        answer = await digest.get(f"{BASE}/students/st-1/week?week={bad}", headers=AUTH)
        assert answer.status_code == 422, (bad, answer.text)
        assert [e["loc"] for e in answer.json()["detail"]] == [["query", "week"]]

    teachers = f"{BASE}/classes/5a/teachers"
    assert (await digest.get(teachers, headers=PARENT)).status_code == 200
    assert (await digest.get(f"{BASE}/classes/1a/teachers", headers=PARENT)).status_code == 403
    assert (await digest.get(teachers, headers=STRANGER)).status_code == 403
    assert (await digest.get(f"{BASE}/classes/9z/teachers", headers=AUTH)).status_code == 404


async def test_the_class_s_teachers_come_in_pages_and_the_calendar_by_school_year(
    digest: httpx.AsyncClient,
) -> None:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        answer = await digest.get(f"{BASE}/classes/5a/teachers", params=params, headers=TEACHER)
        assert answer.status_code == 200, answer.text
        pages.append([(t["subject_name"], t["group_name"]) for t in answer.json()["items"]])
        if (cursor := answer.json()["next_cursor"]) is None:
            break
    assert pages == [
        [
            ("Английский язык", None),
            ("Английский язык", "Английский, группа 1"),
            ("Английский язык", "Английский, группа 2"),
            ("Математика", None),
        ],
        [("Музыка", None), ("Русский язык", None)],
    ]
    bad_cursor = await digest.get(
        f"{BASE}/classes/5a/teachers", params={"cursor": "x"}, headers=AUTH
    )
    assert [e["loc"] for e in bad_cursor.json()["detail"]] == [["query", "cursor"]]

    calendar = await digest.get(
        f"{BASE}/calendar", params={"school_year": "2026/2027"}, headers=PARENT
    )
    assert calendar.status_code == 200, calendar.text
    year = calendar.json()
    assert (year["starts_on"], year["weeks_alternate_from"]) == ("2026-09-01", "2026-08-31")
    assert [d["name"] for d in year["non_school_days"]] == [
        "Методический день",
        "Зимние каникулы",
        "Дополнительные каникулы для первоклассников",
        "Весенние каникулы",
    ]
    assert year["non_school_days"][2]["education_levels"] == ["primary"]
    this_year = await digest.get(f"{BASE}/calendar", headers=AUTH)
    assert this_year.json()["school_year"] == "2026/2027"
    for bad in ("2026/2028", "2026-2027", "26/27"):
        answer = await digest.get(f"{BASE}/calendar", params={"school_year": bad}, headers=AUTH)
        assert answer.status_code == 422, (bad, answer.text)
        assert [e["loc"] for e in answer.json()["detail"]] == [["query", "school_year"]]
    unknown = await digest.get(
        f"{BASE}/calendar", params={"school_year": "2030/2031"}, headers=AUTH
    )
    assert unknown.status_code == 404
    foreign = await digest.get(f"{BASE}/calendar", headers=bearer("parent", "school-2", "g-1"))
    assert foreign.status_code == 403


async def test_the_weekly_run_publishes_and_prints_the_new_sections(
    digest: httpx.AsyncClient, servers: Servers, run_id: str, tmp_path: Path
) -> None:
    ran = await digest.post(f"{BASE}/weekly-runs/{WEEK}", headers=AUTH)
    assert ran.json()["ran"] and ran.json()["paper_pages"] == 1, ran.text
    records = await read_topic(
        servers.kafka_bootstrap, f"{run_id}.{WeeklyDigestCompiled.topic}", at_least=4
    )
    digests = {
        d.payload.student_id: d.payload
        for d in (WeeklyDigestCompiled.model_validate_json(r.value or b"") for r in records)
    }
    first = digests["st-1"]
    assert [(t.subject_name, t.kind_label) for t in first.next_week_tests] == [
        ("Математика", "контрольная работа"),
        ("Русский язык", "контрольная работа"),
    ]
    assert [h.subject_name for h in first.homework_due] == ["Английский язык"]  # music retracted
    assert [c.what for c in first.lesson_changes] == [
        "замена: ведёт Волкова Е. П.",
        "урок отменён",
        "перенос: 02.12, 4-й урок, кабинет актовый зал",
    ]
    assert [h.name for h in first.next_holidays] == ["Зимние каникулы", "Весенние каникулы"]
    assert [h.name for h in digests["st-4"].next_holidays][1] == (
        "Дополнительные каникулы для первоклассников"
    )

    printout = await digest.get(f"{BASE}/paper/5a/{WEEK}.pdf", headers=TEACHER)
    assert printout.status_code == 200
    [page] = await asyncio.to_thread(pdf_pages, printout.content, tmp_path)
    assert "Итоги недели: Иванов Иван" in page
    assert "Изменения в расписании на этой неделе:" in page
    assert "30.11, 1-й урок, Математика: замена: ведёт Волкова Е. П. (причина: болезнь" in page
    assert "Контрольные и проверочные работы на следующей неделе:" in page
    assert "08.12, Математика: Контрольная работа по теме «Дроби»" in page
    assert "к 07.12, Английский язык: Выучить слова урока 5" in page
    assert "Учителя: Английский язык (Английский, группа 1) — Смит Джон" in page
    assert "Ближайшие каникулы: Зимние каникулы с 29 декабря 2026 г." in page


async def test_a_record_is_replaced_by_newer_versions_only_and_a_tombstone_stays(
    database: AsyncDatabase[Document],
) -> None:
    store = MongoWeekStore(database)
    await store.ensure_indexes()
    [corrected_v3, corrected_v2, retracted, *_] = late_and_corrected()
    posted = [e for e in term() if e.type == "LessonChangePosted"]
    await store.put([week_record(e) for e in posted])
    await store.put([week_record(corrected_v3)])
    await store.put([week_record(corrected_v2)])  # late: older than what is held
    await store.put([week_record(retracted)])
    await store.put([week_record(e) for e in posted])  # a redelivery of version 1
    book = await store.class_book(SCHOOL, "5a")
    assert {c.change_id: c.substitute_teacher_name for c in book.changes} == {
        "ch-1": "Волкова Е. П.",
        "ch-2": None,
        "ch-3": None,
    }
    # Records of another school with the same ids stay apart.
    assert not (await store.class_book("school-2", "5a")).changes
