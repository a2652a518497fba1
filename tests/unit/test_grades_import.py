"""The CSV import's own checks: a file it cannot read stops with the line and the reason, a
row it cannot map to fields is rejected on its own, and neither reaches the service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from services.grades.importer import ImportFailedError, import_csv

HEADER = "mark_id,student_id,subject_id,teacher_id,lesson_date,value,work_type\n"
ROW = "m-{n},st-1,math,t-1,2026-11-27,5,ответ\n"


def a_client(sent: list[dict[str, object]]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        sent.extend(items)
        results = [{"index": i, "status": "accepted", "errors": []} for i in range(len(items))]
        return httpx.Response(200, json={"items": results})

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://grades")


def test_a_row_with_more_cells_than_the_header_is_rejected_alone(tmp_path: Path) -> None:
    path = tmp_path / "marks.csv"
    path.write_text(HEADER + ROW.format(n=1) + ROW.format(n=2).strip() + ",лишнее\n")
    sent: list[dict[str, object]] = []
    report = import_csv(path, client=a_client(sent), school_id="school-1")
    assert [item["mark_id"] for item in sent] == ["m-1"]
    assert report.counts == {"accepted": 1, "rejected": 1}
    assert report.errors == [(3, "", "more cells than the header names")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (HEADER.encode() + "m-1,st-1,math,t-1,2026-11-27,5,ответ\n".encode("cp1251"), "UTF-8"),
        (HEADER.encode() + b"m-1," + b"x" * 200_000 + b"\n", "larger"),
    ],
)
def test_a_file_that_is_not_a_readable_csv_stops_the_import_saying_where(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "marks.csv"
    path.write_bytes(content)
    sent: list[dict[str, object]] = []
    with pytest.raises(ImportFailedError) as stopped:
        import_csv(path, client=a_client(sent), school_id="school-1")
    assert "line 2" in str(stopped.value) and reason in str(stopped.value)
    assert sent == []
