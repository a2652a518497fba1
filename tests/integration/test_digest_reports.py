"""Issue 15 (begun): a class's summary sheet of final marks and its statistics, from the
journal's final marks through grades, Kafka and the digest's read model."""

from __future__ import annotations

import io
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import openpyxl

from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually
from tests.school import SCHOOL, load_grades_reference, post_journal
from tests.school_week import pdf_pages
from tests.services import running

SHEET = f"/v1/schools/{SCHOOL}/classes/5a/summary-sheet"
OBTAINED = "2026-12-26T14:00:00+03:00"


def a_final(student: str, subject: str, value: str | None, **changes: Any) -> dict[str, Any]:
    final = {
        "kind": "final_mark",
        "final_mark_id": f"f-{student}-{subject}",
        "student_id": student,
        "subject_id": subject,
        "period_id": "q2",
        "obtained_at": OBTAINED,
    }
    if value is not None:
        final["value"] = value
    return {**final, **changes}


async def sheet_when(
    digest: httpx.AsyncClient, ready: Any, headers: dict[str, str] = AUTH
) -> dict[str, Any]:
    async def fetched() -> dict[str, Any] | None:
        response = await digest.get(SHEET, params={"period": "q2"}, headers=headers)
        return response.json() if response.status_code == 200 and ready(response.json()) else None

    return dict(await eventually(fetched, timeout=60))


async def test_the_summary_sheet_shows_values_a_deferral_and_flags_a_missing_final(
    service_env: dict[str, object], run_id: str, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        digest = await stack.enter_async_context(running("digest", run_id, **service_env))
        await load_grades_reference(grades)
        for student, name in (("st-4", "Алексеев Борис"), ("st-5", "Яковлева Дарья")):
            put = await grades.put(
                f"/v1/schools/{SCHOOL}/students/{student}",
                json={"name": name, "class_id": "5a"},
                headers=AUTH,
            )
            assert put.status_code == 200, put.text
        posted = await post_journal(
            grades,
            a_final("st-1", "math", "5"),
            a_final("st-2", "math", "4"),
            a_final("st-4", "math", None, deferred_until="2027-01-20"),
            a_final("st-1", "russian", "3"),
            a_final("st-2", "russian", "н/а"),
            a_final("st-4", "russian", "4"),
            a_final("st-5", "russian", "2"),
        )
        assert posted.json()["summary"]["accepted"] == 7, posted.text
        sheet = await sheet_when(
            digest, lambda s: sum(c != "" for row in s["rows"] for c in row["cells"]) == 7
        )
        teacher = await sheet_when(
            digest, lambda s: True, headers=bearer("teacher", person_id="t-1")
        )
        other_teacher = await digest.get(
            SHEET, params={"period": "q2"}, headers=bearer("teacher", person_id="t-2")
        )
        no_period = await digest.get(SHEET, params={"period": "q9"}, headers=AUTH)
        pdf = await digest.get(f"{SHEET}.pdf", params={"period": "q2"}, headers=AUTH)
        xlsx = await digest.get(f"{SHEET}.xlsx", params={"period": "q2"}, headers=AUTH)

        await post_journal(grades, a_final("st-4", "math", "3"))  # the deferred value comes
        after = await sheet_when(
            digest,
            lambda s: s["rows"][0]["cells"] == ["3", "4"],  # Алексеев first
        )

    assert [s["name"] for s in sheet["subjects"]] == ["Математика", "Русский язык"]
    assert [(row["name"], row["cells"]) for row in sheet["rows"]] == [
        ("Алексеев Борис", ["отсрочка до 20.01", "4"]),
        ("Иванов Иван", ["5", "3"]),
        ("Смирнова Ольга", ["4", "н/а"]),
        ("Яковлева Дарья", ["", "2"]),
    ]
    assert [(m["student_id"], m["subject_id"]) for m in sheet["missing"]] == [("st-5", "math")]
    math, russian = (s["stats"] for s in sheet["subjects"])
    # Mathematics: 5 and 4. Russian: 3, н/а, 4, 2 — by hand:
    assert (math["success_rate"], math["quality"], math["average"]) == (100.0, 100.0, 4.5)
    assert math["learning_degree"] == 82.0  # (100 + 64) / 2
    assert (russian["success_rate"], russian["quality"]) == (50.0, 25.0)
    assert russian["average"] == 3.0  # (3 + 4 + 2) / 3 numeric marks
    assert russian["learning_degree"] == 30.8  # (36 + 7 + 64 + 16) / 4 = 30.75
    assert [s["name"] for s in teacher["subjects"]] == ["Математика"]  # t-1 teaches math only
    assert other_teacher.status_code == 403
    assert no_period.status_code == 404
    assert after["rows"][0]["cells"] == ["3", "4"]
    assert after["missing"] == sheet["missing"]

    # The same sheet to print (pdftotext) and as a workbook (openpyxl).
    assert pdf.headers["content-type"] == "application/pdf"
    [page] = pdf_pages(pdf.content, tmp_path)
    assert "Сводная ведомость итоговых отметок" in page and "класс 5А" in page
    assert "Алексеев Борис отсрочка до 20.01 4" in page
    assert "Яковлева Дарья нет 2" in page  # the missing final, flagged
    assert "Русский язык 4 0 1 1 1 1 50 25 3 30,8" in page  # N, 5 4 3 2 н/а, the figures
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    rows = [list(row) for row in workbook["Ведомость"].iter_rows(min_row=3, values_only=True)]
    assert rows == [
        ["№", "Ученик", "Математика", "Русский язык"],
        [1, "Алексеев Борис", "отсрочка до 20.01", "4"],
        [2, "Иванов Иван", "5", "3"],
        [3, "Смирнова Ольга", "4", "н/а"],
        [4, "Яковлева Дарья", "нет", "2"],
    ]
    assert workbook["Ведомость"]["C7"].fill.start_color.rgb.endswith("F6C9C9")
    statistics = list(workbook["Статистика"].iter_rows(min_row=2, values_only=True))
    # No lessons held were sent: no teachers named.
    assert statistics[0] == ("Математика", 2, 1, 1, 0, 0, 0, 100.0, 100.0, 4.5, 82.0, None)
