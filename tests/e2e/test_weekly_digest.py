"""The weekly digest through all four services, on real Kafka, FerretDB/MongoDB and SMTP:
e-mail digests for the families who want them, one class PDF for the paper-only ones, exactly
once however often the week is run, and the extract."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiosmtpd.controller import Controller

from schemas import Envelope, SchoolChanged, StudentChanged
from schemas.digest import WeeklyDigestCompiled
from schemas.journal import SchoolChangedPayload, StudentChangedPayload
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually, produce_events, read_topic
from tests.mailbox import received
from tests.school import load_guardian, post_journal
from tests.servers import Servers
from tests.services import all_four, running

SCHOOL = "school-1"
WEEK = "2026-W48"  # 23–29 November 2026
TEACHER = bearer("teacher", person_id="t-1")
VESTNIK = Path(sys.executable).parent / "vestnik"


def student_name(n: int) -> str:
    return f"Ученик{n:02d} Тестовый"


async def load_class(grades: httpx.AsyncClient, students: int) -> None:
    reference: list[tuple[str, dict[str, Any]]] = [
        ("", {"name": "МБОУ «Школа № 1»", "timezone": "Europe/Moscow"}),
        ("/classes/5a", {"name": "5А", "education_level": "basic"}),
        ("/subjects/math", {"name": "Математика"}),
        ("/subjects/russian", {"name": "Русский язык"}),
        (
            "/teachers/t-1",
            {
                "name": "Петрова Анна Сергеевна",
                "assignments": [
                    {"class_id": "5a", "subject_id": "math"},
                    {"class_id": "5a", "subject_id": "russian"},
                ],
            },
        ),
        (
            "/periods/q1",
            {
                "name": "1 четверть",
                "period_kind": "quarter",
                "school_year": "2026/2027",
                "starts_on": "2026-09-01",
                "ends_on": "2026-11-04",
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
        *[
            (f"/students/st-{n:02d}", {"name": student_name(n), "class_id": "5a"})
            for n in range(1, students + 1)
        ],
    ]
    for path, body in reference:
        response = await grades.put(f"/v1/schools/{SCHOOL}{path}", json=body, headers=AUTH)
        assert response.status_code == 200, response.text


def a_week_of_marks(students: int) -> list[dict[str, Any]]:
    """Per student: two earlier marks in the quarter, three this week, one outside it."""

    def mark(n: int, suffix: str, day: str, subject: str, value: str) -> dict[str, Any]:
        return {
            "kind": "mark",
            "mark_id": f"m-{n:02d}-{suffix}",
            "student_id": f"st-{n:02d}",
            "subject_id": subject,
            "teacher_id": "t-1",
            "lesson_date": day,
            "value": value,
            "work_type": "ответ на уроке",
        }

    items = []
    for n in range(1, students + 1):
        items += [
            mark(n, "a", "2026-11-12", "math", "4"),
            mark(n, "b", "2026-11-13", "math", "5"),
            mark(n, "c", "2026-11-24", "math", "5"),
            mark(n, "d", "2026-11-26", "math", "3"),
            mark(n, "e", "2026-11-25", "russian", "4"),
            mark(n, "f", "2026-11-30", "russian", "2"),
        ]
    return items


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "read.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # Lines wrap: compare with whitespace collapsed.
    return [" ".join(page.split()) for page in text.split("\f") if page.strip()]


def digest_command(*args: str) -> list[str]:
    return [str(VESTNIK), "digest", *args]


def digest_env(service_env: dict[str, object], run_id: str) -> dict[str, str]:
    return {
        **os.environ,
        "VESTNIK_KAFKA_BOOTSTRAP": str(service_env["kafka_bootstrap"]),
        "VESTNIK_MONGO_URL": str(service_env["mongo_url"]),
        "VESTNIK_TOPIC_PREFIX": str(service_env["topic_prefix"]),
        "VESTNIK_JWT_SECRET": str(service_env["jwt_secret"]),
        "VESTNIK_DIGEST_MONGO_DB": f"{run_id}_digest",
        "VESTNIK_DIGEST_GROUP": f"{run_id}-digest",
    }


async def register_families(consent: httpx.AsyncClient, students: int) -> dict[str, set[int]]:
    """Five kinds of family, in turn: paper only; e-mail; refused; e-mail but no digest
    wanted; e-mail. Returns which students' families should get what."""
    expected: dict[str, set[int]] = {"email": set(), "paper": set()}
    for n in range(1, students + 1):
        guardian, student = f"g-{n:02d}", f"st-{n:02d}"
        name, address = f"Родитель{n:02d} Тестовый", f"parent{n:02d}@example.org"
        match n % 5:
            case 1:
                await load_guardian(
                    consent,
                    guardian,
                    name,
                    student,
                    preferences={"paper_only_reason": "нет доступа к интернету"},
                )
                expected["paper"].add(n)
            case 2 | 0:
                await load_guardian(consent, guardian, name, student, email=address)
                expected["email"].add(n)
            case 3:
                await load_guardian(
                    consent, guardian, name, student, decision="refused", email=address
                )
            case 4:
                await load_guardian(
                    consent,
                    guardian,
                    name,
                    student,
                    email=address,
                    preferences={"channels": {"weekly_digest": []}},
                )
    return expected


async def test_a_class_of_25_gets_its_email_digests_and_one_pdf_of_paper_pages_once(
    servers: Servers,
    service_env: dict[str, object],
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
    tmp_path: Path,
) -> None:
    students = 25
    three_days_on = timedelta(days=3)  # Monday after the week: hand-overs are due
    async with all_four(
        run_id,
        service_env,
        smtp_port=smtp_server.port,
        digest_clock=lambda: datetime.now(UTC) + three_days_on,
    ) as services:
        grades, consent, digest = services.grades, services.consent, services.digest
        await load_class(grades, students)
        expected = await register_families(consent, students)
        marks = a_week_of_marks(students)
        deferred = {
            "kind": "final_mark",
            "final_mark_id": "f-01",
            "student_id": "st-01",
            "subject_id": "math",
            "period_id": "q1",
            "deferred_until": "2027-01-15",
            "obtained_at": "2026-11-25T10:00:00+03:00",
        }
        response = await post_journal(grades, *marks, deferred)
        assert response.json()["summary"]["accepted"] == len(marks) + 1, response.text

        async def read_model_ready() -> bool:
            """Every student's week complete (their partitions are consumed independently)
            and every paper-only family known."""
            for n in range(1, students + 1):
                week = await digest.get(
                    f"/v1/schools/{SCHOOL}/students/st-{n:02d}/weeks/{WEEK}", headers=AUTH
                )
                if week.status_code != 200:
                    return False
                marks = sum(len(subject["marks"]) for subject in week.json()["subjects"])
                if marks < 3 or (n == 1 and not week.json()["final_marks"]):
                    return False
            on_paper = await digest.get(f"/v1/schools/{SCHOOL}/paper/students", headers=AUTH)
            return len(on_paper.json()["items"]) == len(expected["paper"])

        await eventually(read_model_ready, timeout=60)

        # Two processes run the same week at once, then it is run again: no duplicate.
        env = digest_env(service_env, run_id)
        command = digest_command("run", "--school", SCHOOL, "--week", WEEK)
        racing = [
            await asyncio.create_subprocess_exec(
                *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            for _ in range(2)
        ]
        outputs = [(await process.communicate())[0].decode() for process in racing]
        assert [process.returncode for process in racing] == [0, 0], outputs
        assert sum("25 students, 5 paper pages" in output for output in outputs) == 1, outputs
        again = await digest.post(f"/v1/schools/{SCHOOL}/weekly-runs/{WEEK}", headers=AUTH)
        assert again.json()["ran"] is False

        async def digests() -> list[Any]:
            found = [m for m in received(mail_dir) if m["Subject"].startswith("Итоги недели")]
            return found if len(found) >= len(expected["email"]) else []

        await eventually(digests, timeout=90)
        await asyncio.sleep(3)  # a duplicate would arrive now
        mails = [m for m in received(mail_dir) if m["Subject"].startswith("Итоги недели")]
        assert sorted(m["To"] for m in mails) == sorted(
            f"parent{n:02d}@example.org" for n in expected["email"]
        )
        [first] = [m for m in mails if m["To"] == "parent02@example.org"]
        assert first["Subject"] == f"Итоги недели 23.11–29.11: {student_name(2)}, 5А"
        text = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Математика: 5, 3." in text
        assert "Средний балл 4,25; прогноз 4, снижается." in text
        assert "Русский язык: 4." in text and "мало оценок" in text

        printout = await digest.get(f"/v1/schools/{SCHOOL}/paper/5a/{WEEK}.pdf", headers=TEACHER)
        assert printout.headers["content-type"] == "application/pdf"
        pages = pdf_pages(printout.content, tmp_path)
        assert len(pages) == len(expected["paper"])
        for page, n in zip(pages, sorted(expected["paper"]), strict=True):
            assert f"Итоги недели: {student_name(n)}" in page
            assert (
                "МБОУ «Школа № 1» · класс 5А · неделя с 23 ноября 2026 г. по 29 ноября 2026 г."
                in page
            )
            assert "Математика 5 24.11, 3 26.11 4,25 прогноз 4, снижается" in page
            assert "Русский язык 4 25.11 4,00 мало оценок" in page
            assert "Ознакомлен(а):" in page
        assert "Математика, 1 четверть: отсрочка до 15.01" in pages[0]

        handed = await digest.post(
            f"/v1/schools/{SCHOOL}/paper/5a/{WEEK}/hand-overs",
            json={"student_id": "st-01"},
            headers=TEACHER,
        )
        assert handed.status_code == 204
        unknown = await digest.post(
            f"/v1/schools/{SCHOOL}/paper/5a/{WEEK}/hand-overs",
            json={"student_id": "st-02"},
            headers=TEACHER,
        )
        assert unknown.status_code == 404 and "student_id" in unknown.json()["detail"]
        late = await digest.get(f"/v1/schools/{SCHOOL}/paper/not-handed-over", headers=TEACHER)
        assert sorted(s["student_id"] for s in late.json()["items"]) == [
            f"st-{n:02d}" for n in sorted(expected["paper"] - {1})
        ]
        await digest.get(f"/v1/schools/{SCHOOL}/weekly-runs", headers=AUTH)  # readable by staff
        forbidden = await digest.get(
            f"/v1/schools/{SCHOOL}/paper/5a/{WEEK}.pdf",
            headers=bearer("teacher", "school-2", "t-9"),
        )
        assert forbidden.status_code == 403

    # The extract (clause 4), from the command line, for any range.
    out = tmp_path / "extract.pdf"
    extract = await asyncio.to_thread(
        subprocess.run,
        digest_command(
            "extract",
            "--school",
            SCHOOL,
            "--student",
            "st-01",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--out",
            str(out),
        ),
        env=digest_env(service_env, run_id),
        capture_output=True,
        text=True,
    )
    assert extract.returncode == 0, extract.stderr
    [page] = pdf_pages(out.read_bytes(), tmp_path)
    assert "Выписка из электронного журнала" in page
    assert f"{student_name(1)}, класс 5А · с 1 ноября 2026 г. по 30 ноября 2026 г." in page
    assert "Математика 4 12.11, 5 13.11, 5 24.11, 3 26.11" in page
    assert "Русский язык 4 25.11, 2 30.11" in page
    assert "Математика, 1 четверть: отсрочка до 15.01" in page


async def test_a_run_missed_while_the_service_was_down_is_made_up_once(
    servers: Servers,
    service_env: dict[str, object],
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
) -> None:
    students = 2
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        await stack.enter_async_context(
            running("notifier", run_id, smtp_port=smtp_server.port, **service_env)
        )
        await load_class(grades, students)
        # Registered yesterday, as far as the digest knows (the first registration counts).
        await produce_events(
            servers.kafka_bootstrap,
            reference_events(datetime.now(UTC) - timedelta(days=1), range(0)),
            str(service_env["topic_prefix"]),
        )
        for n in range(1, students + 1):
            await load_guardian(
                consent,
                f"g-{n:02d}",
                f"Родитель{n:02d} Тестовый",
                f"st-{n:02d}",
                email=f"parent{n:02d}@example.org",
            )
        this_week = date.today().isoformat()
        await post_journal(
            grades,
            *[
                {
                    "kind": "mark",
                    "mark_id": f"m-{n}",
                    "student_id": f"st-{n:02d}",
                    "subject_id": "math",
                    "teacher_id": "t-1",
                    "lesson_date": this_week,
                    "value": "5",
                    "work_type": "ответ",
                }
                for n in range(1, students + 1)
            ],
        )

        # The digest takes in the week, then is down across the scheduled time.
        async with running("digest", run_id, scheduler=False, **service_env) as digest:

            async def read_model_ready() -> bool:
                weeks = [
                    await digest.get(
                        f"/v1/schools/{SCHOOL}/students/st-{n:02d}/weeks/"
                        f"{date.today():%G}-W{date.today():%V}",
                        headers=AUTH,
                    )
                    for n in range(1, students + 1)
                ]
                return all(w.status_code == 200 and w.json()["subjects"] for w in weeks)

            await eventually(read_model_ready, timeout=60)
        # It was due a minute ago, with nobody running.
        schedule = due_a_minute_ago()
        for _ in range(2):  # started after it, then restarted: the week goes out once
            async with running("digest", run_id, **schedule, **service_env) as digest:

                async def done() -> list[Any]:
                    runs = await digest.get(f"/v1/schools/{SCHOOL}/weekly-runs", headers=AUTH)
                    return [r for r in runs.json()["items"] if r["status"] == "done"]

                [run] = await eventually(done, timeout=60)
                assert run["students"] == students

        async def digests() -> list[Any]:
            found = [m for m in received(mail_dir) if m["Subject"].startswith("Итоги недели")]
            return found if len(found) >= students else []

        await eventually(digests, timeout=60)
        await asyncio.sleep(3)
    mails = [m for m in received(mail_dir) if m["Subject"].startswith("Итоги недели")]
    assert sorted(m["To"] for m in mails) == ["parent01@example.org", "parent02@example.org"]


def reference_events(
    registered_at: datetime, students: range, school_id: str = SCHOOL
) -> list[Envelope[Any]]:
    """What grades publishes when a school and its students are registered."""
    school = SchoolChanged.new(
        SchoolChangedPayload(school_id=school_id, name="Школа", timezone="Europe/Moscow"),
        producer="grades",
        occurred_at=registered_at,
    )
    return [
        school,
        *(
            StudentChanged.new(
                StudentChangedPayload(
                    school_id=school_id,
                    student_id=f"st-{n:02d}",
                    name=student_name(n),
                    class_id="5a",
                    class_name="5А",
                    education_level="basic",
                ),
                producer="grades",
            )
            for n in students
        ),
    ]


def due_a_minute_ago() -> dict[str, object]:
    """Settings that make the weekly run due a minute ago, looked for twice a second."""
    scheduled = datetime.now(ZoneInfo("Europe/Moscow")) - timedelta(minutes=1)
    return {
        "weekly_day": scheduled.strftime("%A").lower(),
        "weekly_time": scheduled.strftime("%H:%M"),
        "poll_seconds": 0.5,
    }


async def test_a_school_registered_after_the_scheduled_time_waits_for_its_next_one(
    servers: Servers, service_env: dict[str, object], run_id: str
) -> None:
    async with running("digest", run_id, **due_a_minute_ago(), **service_env) as digest:
        await produce_events(
            servers.kafka_bootstrap, reference_events(datetime.now(UTC), range(1, 3)), f"{run_id}."
        )

        async def students_known() -> bool:
            weeks = [
                await digest.get(
                    f"/v1/schools/{SCHOOL}/students/st-{n:02d}/weeks/{WEEK}", headers=AUTH
                )
                for n in (1, 2)
            ]
            return all(week.status_code == 200 for week in weeks)

        await eventually(students_known, timeout=60)
        await asyncio.sleep(2)  # four passes of the scheduler
        runs = await digest.get(f"/v1/schools/{SCHOOL}/weekly-runs", headers=AUTH)
        assert runs.status_code == 200 and runs.json()["items"] == [], runs.text


async def test_a_student_who_joins_after_the_week_s_run_gets_that_week_at_the_next_pass(
    servers: Servers, service_env: dict[str, object], run_id: str
) -> None:
    prefix = f"{run_id}."
    digests = f"{prefix}{WeeklyDigestCompiled.topic}"
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with running("digest", run_id, **due_a_minute_ago(), **service_env) as digest:

        async def published(students: int) -> Any:
            runs = (await digest.get(f"/v1/schools/{SCHOOL}/weekly-runs", headers=AUTH)).json()[
                "items"
            ]
            return [r for r in runs if r["status"] == "done" and r["students"] == students]

        await produce_events(
            servers.kafka_bootstrap, reference_events(yesterday, range(1, 3)), prefix
        )
        [run] = await eventually(lambda: published(2), timeout=60)
        await produce_events(
            servers.kafka_bootstrap, reference_events(yesterday, range(3, 4))[1:], prefix
        )
        [run] = await eventually(lambda: published(3), timeout=60)

    records = await read_topic(servers.kafka_bootstrap, digests, at_least=3, settle=2)
    weeks = [WeeklyDigestCompiled.model_validate_json(r.value).payload for r in records]
    assert sorted(w.student_id for w in weeks) == ["st-01", "st-02", "st-03"]
    assert {w.week for w in weeks} == {run["week"]}
