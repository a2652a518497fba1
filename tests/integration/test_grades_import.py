"""`vestnik grades import`: a 10,000-row CSV through the real service, as a school would."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import httpx

from services.shared.auth import issue_token
from tests.conftest import TEST_SECRET
from tests.school import SCHOOL, load_grades_reference

BAD_ROWS = {17: ("value", "9"), 4242: ("student_id", "ghost"), 9001: ("lesson_date", "32.13.2026")}


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(
            [
                "mark_id",
                "student_id",
                "subject_id",
                "teacher_id",
                "lesson_date",
                "value",
                "work_type",
                "weight",
                "comment",
            ]
        )
        for n in range(rows):
            row = {
                "mark_id": f"csv-{n:05d}",
                "student_id": ("st-1", "st-2")[n % 2],
                "subject_id": "math",
                "teacher_id": "t-1",
                "lesson_date": "2026-11-27",
                "value": "54321"[n % 5],
                "work_type": "ответ у доски",
                "weight": "1",
                "comment": "" if n % 3 else "Молодец",
            }
            if n in BAD_ROWS:
                field, value = BAD_ROWS[n]
                row[field] = value
            writer.writerow(row.values())


def run_import(path: Path, url: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "grades",
            "import",
            str(path),
            "--school",
            SCHOOL,
            "--url",
            url,
            "--token",
            token,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


async def test_a_10000_row_csv_is_imported_with_progress_and_a_summary(
    grades_process: dict,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    # Publishing is not what this test is about: the relay stays off, as on an API-only replica.
    grades_process["start"](VESTNIK_GRADES_RELAY="false")
    admin = issue_token(TEST_SECRET, role="admin", school_id=SCHOOL)
    async with httpx.AsyncClient(
        base_url=grades_process["url"], headers={"Authorization": f"Bearer {admin}"}
    ) as grades:
        await load_grades_reference(grades)
    path = tmp_path / "marks.csv"
    write_csv(path, 10_000)
    journal = issue_token(TEST_SECRET, role="journal", school_id=SCHOOL)

    first = run_import(path, grades_process["url"], journal)
    again = run_import(path, grades_process["url"], journal)

    assert first.returncode == 0, first.stderr
    assert "importing 10000 rows" in first.stderr
    assert "5000/10000 rows sent (50%)" in first.stderr
    assert "10000/10000 rows sent (100%)" in first.stderr
    assert "10000 rows: 9997 accepted, 3 rejected" in first.stdout
    # CSV line numbers: the header is line 1, so row n is line n + 2.
    assert "line 19: value:" in first.stdout
    assert "line 4244: student_id: no such student in this school" in first.stdout
    assert "line 9003: lesson_date:" in first.stdout
    assert "10000 rows: 9997 duplicate, 3 rejected" in again.stdout


def test_an_import_refused_whole_says_why(tmp_path: Path) -> None:
    path = tmp_path / "marks.csv"
    write_csv(path, 3)
    refused = run_import(path, "http://127.0.0.1:9", "not-a-token")
    assert refused.returncode != 0
