"""The digest's `/openapi.json` documents every status each operation can answer, in the one
error shape, and the PDFs as PDFs (issue 12, defects 9 and 10)."""

from __future__ import annotations

from typing import Any

from services.registry import build_app


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    app, _ = build_app("digest")  # builds clients lazily: no server is contacted
    return [
        (path, method, operation)
        for path, methods in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method, operation in methods.items()
    ]


def test_every_operation_documents_its_errors_in_one_shape() -> None:
    found = operations()
    assert len(found) == 17
    for path, method, operation in found:
        responses = operation["responses"]
        assert {"401", "403", "422"} <= set(responses), f"{method} {path}"
        for code, response in responses.items():
            if code.startswith("4"):
                [schema] = [c["schema"] for c in response["content"].values()]
                wanted = "ValidationErrorOut" if code == "422" else "ErrorOut"
                assert schema["$ref"].endswith(f"/{wanted}"), f"{method} {path} {code}"
        if "{student_id}" in path or path.endswith((".pdf", ".xlsx")) or "hand-overs" in path:
            assert "404" in responses, f"{method} {path}"
        if "requestBody" in operation:
            assert "413" in responses, f"{method} {path}"


# Answers that are one record, not a list: a student's week, a school year's calendar, a
# class's summary sheet and lesson statistics (one class: bounded by the class).
ONE_RECORD = ("/week", "/calendar", "/summary-sheet", "/lesson-stats")


def test_pdfs_are_documented_as_pdfs_and_lists_as_pages() -> None:
    for path, method, operation in operations():
        ok = operation["responses"].get("200", {}).get("content", {})
        if path.endswith(".pdf"):
            assert list(ok) == ["application/pdf"], path
        elif path.endswith(".xlsx"):
            assert list(ok) == [
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            ], path
        elif path.endswith(ONE_RECORD):
            assert ok["application/json"]["schema"]["$ref"].endswith(("Out",)), path
        elif method == "get" and "{" not in path.rsplit("/", 1)[-1]:
            assert ok["application/json"]["schema"]["$ref"].split("/")[-1].startswith("Page"), path
            names = {p["name"] for p in operation["parameters"]}
            assert {"limit", "cursor"} <= names, path
