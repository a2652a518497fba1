"""`vestnik grades import` as a school runs it: a real process of the CLI against a grades
process loaded with the small school's reference data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from services.shared.auth import issue_token
from tests.conftest import TEST_SECRET
from tests.school import SCHOOL, load_grades_reference


async def grades_with_reference(grades_process: dict[str, Any], **env: str) -> str:
    """Start the grades process, load the school; return a journal token for the import."""
    grades_process["start"](**env)
    admin = issue_token(TEST_SECRET, role="admin", school_id=SCHOOL)
    async with httpx.AsyncClient(
        base_url=grades_process["url"], headers={"Authorization": f"Bearer {admin}"}
    ) as grades:
        await load_grades_reference(grades)
    return issue_token(TEST_SECRET, role="journal", school_id=SCHOOL)


def run_import(path: Path, url: str, token: str, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.cli", "grades", "import", str(path)]
    return subprocess.run(
        [*command, "--school", SCHOOL, "--url", url, "--token", token, *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def import_twice(
    path: Path, url: str, token: str, kind: str
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The import, and the same again: the second must change nothing."""
    first = run_import(path, url, token, "--kind", kind)
    again = run_import(path, url, token, "--kind", kind)
    return first, again


def assert_imported_twice(
    first: subprocess.CompletedProcess[str],
    again: subprocess.CompletedProcess[str],
    *,
    rows: int,
    rejected: dict[int, str],
) -> None:
    """Every good row accepted once and a duplicate the second time; each rejected row (by its
    index → the start of `field: reason`) listed by its CSV line both times."""
    good = rows - len(rejected)
    assert first.returncode == 0, first.stderr
    assert f"{rows} rows: {good} accepted, {len(rejected)} rejected" in first.stdout
    for n, error in rejected.items():
        # The header is line 1, so row n is line n + 2.
        assert f"line {n + 2}: {error}" in first.stdout, first.stdout
    assert f"{rows} rows: {good} duplicate, {len(rejected)} rejected" in again.stdout
