"""Issue 15's acceptance on the real stack: a curriculum, a quarter of lessons held (through
the CSV import) and the final marks of a class of 25, with one deferral and two missing, go
from the journal through grades, Kafka and the digest's read model into the summary sheet
(JSON, PDF via pdftotext, XLSX via openpyxl), the lesson statistics, the list of missing
final marks, its metric, and `vestnik reports`."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl

from tests.conftest import AUTH, TEST_SECRET, bearer
from tests.kafka_tools import eventually
from tests.school import SCHOOL, load_grades_reference, post_journal
from tests.school_week import pdf_pages
from tests.services import running, serving

CLASS = f"/v1/schools/{SCHOOL}/classes/5a"
Q2 = {"period": "q2"}
# After the quarter (5 Nov – 28 Dec 2026) and its three days of grace: all of it is due.
NOW = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)
OBTAINED = "2026-12-26T14:00:00+03:00"

NEW_STUDENTS = [
    "Алексеев Борис",
    "Белова Вера",
    "Васильев Глеб",
    "Гусева Дарья",
    "Дмитриев Егор",
    "Ежова Жанна",
    "Жуков Захар",
    "Зайцева Ирина",
    "Ильин Кирилл",
    "Киселёва Лидия",
    "Лебедев Максим",
    "Морозова Нина",
    "Новиков Олег",
    "Орлова Полина",
    "Павлов Роман",
    "Романова Светлана",
    "Степанов Тимур",
    "Тихонова Ульяна",
    "Устинов Фёдор",
    "Фролова Кристина",
    "Харитонов Марк",
    "Цветкова Элина",
    "Шестаков Юрий",
]
# The reference data's st-1 and st-2 are in 5А too: 25 students.
STUDENTS = ["st-1", "st-2"] + [f"st-r{n:02d}" for n in range(1, 24)]
NAMES = dict(zip(STUDENTS, ["Иванов Иван", "Смирнова Ольга", *NEW_STUDENTS], strict=True))
# Mathematics: 6 fives, 9 fours, 7 threes, a two, an н/а, and Шестаков deferred (ill).
MATH = ["5"] * 6 + ["4"] * 9 + ["3"] * 7 + ["2", "н/а"]
# Russian: 5 fives, 8 fours, 8 threes, 2 twos; Цветкова's and Шестаков's missing.
RUSSIAN = ["5"] * 5 + ["4"] * 8 + ["3"] * 8 + ["2"] * 2
# Music is graded pass/fail: Алексеев did not pass.
MUSIC = {student: "незачёт" if student == "st-r01" else "зачёт" for student in STUDENTS}
PRINTED = {"зачёт": "зач.", "незачёт": "незач."}  # as the sheet prints them

STUDY_PLAN = {
    "name": "Учебный план 5А",
    "school_year": "2026/2027",
    "education_level": "basic",
    "class_ids": ["5a"],
    "subjects": [
        {
            "subject_id": "math",
            "periods": [{"period_id": "q2", "hours": 36, "assessments": {"test": 2}}],
        },
        {
            "subject_id": "russian",
            "periods": [{"period_id": "q2", "hours": 45, "assessments": {"test": 1}}],
        },
        {
            "subject_id": "music",
            "grading": "pass_fail",
            "periods": [{"period_id": "q2", "hours": 8}],
        },
    ],
}


LESSON_COLUMNS = [
    "lesson_id",
    "class_id",
    "lesson_date",
    "lesson_number",
    "subject_id",
    "teacher_id",
]
LESSON_COLUMNS += ["lesson_type", "topic"]


def school_days() -> list[date]:
    """The quarter's 38 weekdays (no holidays in it)."""
    first = date(2026, 11, 5)
    days = [first + timedelta(n) for n in range((date(2026, 12, 28) - first).days + 1)]
    return [day for day in days if day.isoweekday() <= 5]


def lessons_csv(path: Path) -> int:
    """Mathematics: 34 lessons of the 36 planned, two of them tests. Russian: 45, a test
    among them, one taught by a substitute. Music: the 8 planned."""
    days = school_days()
    rows = []
    for n, day in enumerate(days[:34]):
        kind = "test" if n in (10, 30) else ""
        rows.append(("math", day, 1, "t-1", kind))
    for n, day in enumerate(days + days[:7]):
        teacher = "t-2" if n == 5 else "t-3"
        rows.append(("russian", day, 2 if n < len(days) else 3, teacher, "test" if n == 20 else ""))
    rows += [("music", days[n * 5], 4, "t-3", "") for n in range(8)]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(LESSON_COLUMNS)
        for subject, day, number, teacher, kind in rows:
            lesson_id = f"l-5a-{subject}-{day}-{number}"
            topic = "Контрольная работа" if kind == "test" else f"Тема урока {day:%d.%m}"
            writer.writerow([lesson_id, "5a", day, number, subject, teacher, kind, topic])
    return len(rows)


def final(student: str, subject: str, value: str | None, **changes: Any) -> dict[str, Any]:
    item = {
        "kind": "final_mark",
        "final_mark_id": f"f-{student}-{subject}-q2",
        "student_id": student,
        "subject_id": subject,
        "period_id": "q2",
        "obtained_at": OBTAINED,
    }
    return {**item, **({"value": value} if value is not None else {}), **changes}


def finals() -> list[dict[str, Any]]:
    items = [final(s, "math", v) for s, v in zip(STUDENTS, MATH, strict=False)]
    items.append(final("st-r23", "math", None, deferred_until="2027-01-20"))
    items += [final(s, "russian", v) for s, v in zip(STUDENTS, RUSSIAN, strict=False)]
    items += [final(s, "music", v) for s, v in MUSIC.items()]
    return items


async def load_school(grades: httpx.AsyncClient) -> None:
    await load_grades_reference(grades)
    puts: list[tuple[str, dict[str, Any]]] = [
        ("/subjects/music", {"name": "Музыка"}),
        (
            "/teachers/t-3",
            {
                "name": "Григорьева Мария Ивановна",
                "assignments": [
                    {"class_id": "5a", "subject_id": "russian"},
                    {"class_id": "5a", "subject_id": "music"},
                ],
            },
        ),
        *((f"/students/{s}", {"name": NAMES[s], "class_id": "5a"}) for s in STUDENTS[2:]),
        ("/study-plans/ooo-5a", STUDY_PLAN),
    ]
    for path, body in puts:
        answer = await grades.put(f"/v1/schools/{SCHOOL}{path}", json=body, headers=AUTH)
        assert answer.status_code == 200, (path, answer.text)


async def vestnik(*arguments: str, env: dict[str, str] | None = None) -> str:
    """The command line in a process of its own, without blocking this test's event loop,
    which serves the grades service the command calls."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def import_lessons(path: Path, url: str) -> str:
    token = bearer("journal")["Authorization"].removeprefix("Bearer ")
    command = ["grades", "import", str(path), "--school", SCHOOL, "--kind", "lesson_held"]
    return await vestnik(*command, "--url", url, "--token", token)


async def reports_cli(out: Path, service_env: dict[str, Any], run_id: str) -> str:
    env = {
        **os.environ,
        "VESTNIK_MONGO_URL": str(service_env["mongo_url"]),
        "VESTNIK_KAFKA_BOOTSTRAP": str(service_env["kafka_bootstrap"]),
        "VESTNIK_DIGEST_MONGO_DB": f"{run_id}_digest",
        "VESTNIK_JWT_SECRET": TEST_SECRET.get_secret_value(),
    }
    return await vestnik("reports", SCHOOL, "--period", "q2", "--out", str(out), env=env)


async def when(digest: httpx.AsyncClient, path: str, ready: Any, **get: Any) -> Any:
    async def fetched() -> Any:
        answer = await digest.get(path, params=Q2, **{"headers": AUTH, **get})
        return answer.json() if answer.status_code == 200 and ready(answer.json()) else None

    return await eventually(fetched, timeout=90)


async def missing_metric(digest: httpx.AsyncClient) -> float | None:
    for line in (await digest.get("/metrics")).text.splitlines():
        if line.startswith("vestnik_final_marks_missing "):
            return float(line.split()[1])
    return None


def filled(sheet: dict[str, Any]) -> int:
    return sum(c not in ("", "—") for row in sheet["rows"] for c in row["cells"])


async def test_a_class_s_quarter_from_the_journal_to_its_reports(
    service_env: dict[str, Any], run_id: str, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        grades_url = await stack.enter_async_context(serving("grades", run_id, **service_env))
        grades = await stack.enter_async_context(httpx.AsyncClient(base_url=grades_url))
        digest = await stack.enter_async_context(
            running(
                "digest",
                run_id,
                {"clock": lambda: NOW},
                scheduler=False,
                finals_check_seconds=0.5,
                **service_env,
            )
        )
        await load_school(grades)
        rows = lessons_csv(tmp_path / "lessons.csv")
        first = await import_lessons(tmp_path / "lessons.csv", grades_url)
        again = await import_lessons(tmp_path / "lessons.csv", grades_url)
        posted = await post_journal(grades, *finals())
        assert posted.json()["summary"]["accepted"] == 24 + 1 + 23 + 25, posted.text

        sheet = await when(
            digest, f"{CLASS}/summary-sheet", lambda s: filled(s) == 24 + 1 + 23 + 25
        )
        lessons = await when(
            digest,
            f"{CLASS}/lesson-stats",
            lambda s: sum(subject["held"] for subject in s["subjects"]) == rows,
        )
        missing = await digest.get(
            f"/v1/schools/{SCHOOL}/missing-final-marks", params=Q2, headers=AUTH
        )
        metric = await eventually(lambda: _equals(missing_metric(digest), 2.0), timeout=30)
        pdf = await digest.get(f"{CLASS}/summary-sheet.pdf", params=Q2, headers=AUTH)
        xlsx = await digest.get(f"{CLASS}/summary-sheet.xlsx", params=Q2, headers=AUTH)
        teacher = await digest.get(
            f"{CLASS}/summary-sheet", params=Q2, headers=bearer("teacher", person_id="t-1")
        )
        teacher_missing = await digest.get(
            f"/v1/schools/{SCHOOL}/missing-final-marks",
            params=Q2,
            headers=bearer("teacher", person_id="t-1"),
        )
        parent = await digest.get(
            f"{CLASS}/summary-sheet", params=Q2, headers=bearer("parent", person_id="g-1")
        )
        printed = await reports_cli(tmp_path / "reports", service_env, run_id)

        # Шестаков's deferred mark comes; then the two missing ones.
        await post_journal(grades, final("st-r23", "math", "4"))
        after = await when(
            digest, f"{CLASS}/summary-sheet", lambda s: s["subjects"][0]["stats"]["students"] == 25
        )
        await post_journal(grades, final("st-r22", "russian", "3"), final("st-r23", "russian", "4"))
        cleared = await eventually(lambda: _equals(missing_metric(digest), 0.0), timeout=30)

    # The summary sheet: the curriculum's subjects in its order, music graded pass/fail.
    assert f"\n{rows} rows: {rows} accepted\n" in first, first
    assert f"\n{rows} rows: {rows} duplicate\n" in again, again  # idempotent
    assert sheet["curriculum"] is True
    subjects = {s["subject_id"]: s for s in sheet["subjects"]}
    assert list(subjects) == ["math", "russian", "music"]
    assert [s["pass_fail"] for s in subjects.values()] == [False, False, True]
    assert subjects["russian"]["teachers"] == [
        "Григорьева Мария Ивановна",
        "Соколов Игорь Павлович",
    ]
    cells = {row["student_id"]: row["cells"] for row in sheet["rows"]}
    assert len(cells) == 25
    for n, student in enumerate(STUDENTS):
        expected_math = MATH[n] if n < len(MATH) else "отсрочка до 20.01"
        expected_russian = RUSSIAN[n] if n < len(RUSSIAN) else ""
        assert cells[student] == [expected_math, expected_russian, PRINTED[MUSIC[student]]]
    assert [(m["student_id"], m["subject_id"]) for m in sheet["missing"]] == [
        ("st-r22", "russian"),
        ("st-r23", "russian"),
    ]
    # Statistics by hand. Mathematics, 24 values (the deferral is not one): 22 without a 2 or
    # н/а, 15 fours and fives; (6·5 + 9·4 + 7·3 + 2) / 23 marks = 3.87;
    # СОУ (6·100 + 9·64 + 7·36 + 16 + 7) / 24 = 60.5.
    math = subjects["math"]["stats"]
    assert (math["students"], math["success_rate"], math["quality"]) == (24, 91.7, 62.5)
    assert (math["average"], math["learning_degree"]) == (3.87, 60.5)
    # Russian, 23 values: 21 without a 2, 13 fours and fives; 85 / 23 = 3.7; 1332 / 23 = 57.9.
    russian = subjects["russian"]["stats"]
    assert (russian["students"], russian["success_rate"], russian["quality"]) == (23, 91.3, 56.5)
    assert (russian["average"], russian["learning_degree"]) == (3.7, 57.9)
    music = subjects["music"]["stats"]
    assert (music["success_rate"], music["quality"], music["average"]) == (96.0, None, None)

    # Lessons held against the curriculum: mathematics is two lessons short, so behind.
    assert lessons["curriculum"] is True and lessons["behind"] == ["math"]
    by_subject = {s["subject_id"]: s for s in lessons["subjects"]}
    math_lessons = by_subject["math"]
    assert (math_lessons["planned"], math_lessons["due"], math_lessons["held"]) == (36, 36, 34)
    assert math_lessons["difference"] == -2 and math_lessons["behind"] is True
    assert math_lessons["by_type"] == {"урок": 32, "контрольная": 2}
    assert (math_lessons["tests_required"], math_lessons["tests_held"]) == (2, 2)
    russian_lessons = by_subject["russian"]
    assert (russian_lessons["held"], russian_lessons["difference"]) == (45, 0)
    assert russian_lessons["by_teacher"] == [
        {"teacher_name": "Григорьева Мария Ивановна", "held": 44},
        {"teacher_name": "Соколов Игорь Павлович", "held": 1},
    ]
    assert (by_subject["music"]["held"], by_subject["music"]["behind"]) == (8, False)

    # The missing ones, listed and counted; a teacher sees only their subject; families nothing.
    assert missing.status_code == 200
    assert [
        (m["class_name"], m["student_name"], m["subject_name"]) for m in missing.json()["items"]
    ] == [
        ("5А", "Цветкова Элина", "Русский язык"),
        ("5А", "Шестаков Юрий", "Русский язык"),
    ]
    assert metric and cleared
    assert [s["subject_id"] for s in teacher.json()["subjects"]] == ["math"]
    assert teacher_missing.json()["items"] == []
    assert parent.status_code == 403

    # The deferred value replaces the deferral: 25 values now, recomputed.
    after_cells = {row["student_id"]: row["cells"] for row in after["rows"]}
    assert after_cells["st-r23"][0] == "4"
    math = after["subjects"][0]["stats"]
    # 23 of 25 succeed, 16 of 25 fours and fives; 93 / 24 = 3.875; 1515 / 25 = 60.6.
    assert (math["success_rate"], math["quality"], math["average"]) == (92.0, 64.0, 3.88)
    assert math["learning_degree"] == 60.6

    # To print: every student's values, the deferral, and the two missing flagged «нет».
    assert pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "sheet.pdf").write_bytes(pdf.content)  # to look at when it fails
    page, *rest = pdf_pages(pdf.content, tmp_path)
    assert "Сводная ведомость итоговых отметок" in page and "класс 5А" in page
    for n, student in enumerate(STUDENTS[:23]):
        assert f"{NAMES[student]} {MATH[n]} {RUSSIAN[n]} {PRINTED[MUSIC[student]]}" in page
    assert "Цветкова Элина н/а нет зач." in page
    assert "Шестаков Юрий отсрочка до 20.01 нет зач." in page
    assert "Статистика результатов" in " ".join([page, *rest])
    assert "Математика 24 6 9 7 1 1 91,7 62,5 3,87 60,5" in " ".join([page, *rest])
    # The workbook: the same cells, the missing ones filled red.
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    table = [list(r) for r in workbook["Ведомость"].iter_rows(min_row=3, values_only=True)]
    assert table[0] == ["№", "Ученик", "Математика", "Русский язык", "Музыка"]
    by_name = {row[1]: row[2:] for row in table[1:]}
    assert by_name["Шестаков Юрий"] == ["отсрочка до 20.01", "нет", "зач."]
    assert by_name["Алексеев Борис"] == ["5", "5", "незач."]
    assert len(by_name) == 25
    statistics = {row[0]: row for row in workbook["Статистика"].iter_rows(values_only=True)}
    assert statistics["Русский язык"][-1] == "Григорьева Мария Ивановна, Соколов Игорь Павлович"

    # `vestnik reports`: each class's files, a progress line per class, the missing as CSV.
    assert "2/2" in printed and "5А: 25 students, 2 missing" in printed, printed
    written = {path.name for path in (tmp_path / "reports").iterdir()}
    assert {
        "5a-q2-summary-sheet.pdf",
        "5a-q2-summary-sheet.xlsx",
        "5a-q2-lesson-stats.json",
    } <= written
    listed = (tmp_path / "reports" / "missing-final-marks-q2.csv").read_text().splitlines()
    assert len(listed) == 1 + 2 and "Цветкова Элина" in listed[1]


async def _equals(value: Any, wanted: float) -> bool:
    return bool(await value == wanted)
