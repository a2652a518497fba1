"""What journal vendors read: `/openapi.json` documents every endpoint, with examples."""

from __future__ import annotations

import json
from typing import Any

from services.grades.week_items import WEEK_KINDS
from services.registry import build_app


def grades_openapi() -> dict[str, Any]:
    app, _ = build_app("grades")  # builds clients lazily: no server is contacted
    return app.openapi()


def has_example(node: Any, schemas: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """An `example(s)` anywhere in the node, following `$ref`s into the components."""
    if isinstance(node, dict):
        if "example" in node or "examples" in node:
            return True
        ref = node.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name and name not in seen and has_example(schemas.get(name), schemas, seen | {name}):
            return True
        return any(has_example(value, schemas, seen) for value in node.values())
    if isinstance(node, list):
        return any(has_example(value, schemas, seen) for value in node)
    return False


def test_every_journal_endpoint_has_a_summary_and_examples() -> None:
    document = grades_openapi()
    schemas = document["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in methods.items()
    ]
    assert len(operations) == 13
    for path, method, operation in operations:
        assert operation.get("summary"), f"{method} {path} has no summary"
        assert has_example(operation.get("parameters", []), schemas), f"{method} {path}"
        if "requestBody" in operation:
            assert has_example(operation["requestBody"], schemas), f"{method} {path} body"


def test_the_batch_documents_each_item_type() -> None:
    document = grades_openapi()
    items = document["components"]["schemas"]["BatchIn"]["properties"]["items"]["items"]
    assert items["discriminator"]["propertyName"] == "kind"
    assert set(items["discriminator"]["mapping"]) == {
        "mark",
        "mark_retraction",
        "absence",
        "final_mark",
        "exam_result",
        *WEEK_KINDS,
    }
    for name in ("MarkItem", "FinalMarkItem", "ExamResultItem", "LessonChangeItem"):
        assert name in document["components"]["schemas"]
    json.dumps(document)  # serialisable as served


def test_every_clause_4_and_7_item_and_reference_record_has_an_example() -> None:
    document = grades_openapi()
    journal = document["paths"][f"{SCHOOL_PATH}/journal"]["post"]
    examples = journal["requestBody"]["content"]["application/json"]["examples"]
    shown = {item["kind"] for item in examples["week"]["value"]["items"]}
    assert shown == WEEK_KINDS
    schemas = document["components"]["schemas"]
    for name in (
        "GroupIn",
        "IndividualCurriculumIn",
        "BellScheduleIn",
        "SchoolCalendarIn",
        "StudyPlanIn",
    ):
        assert schemas[name]["examples"], name
    assert "announce" in schemas["BatchIn"]["properties"]


SCHOOL_PATH = "/v1/schools/{school_id}"
REFERENCE_PUTS = [
    f"{SCHOOL_PATH}/{part}"
    for part in (
        "periods/{period_id}",
        "classes/{class_id}",
        "students/{student_id}",
        "subjects/{subject_id}",
        "teachers/{teacher_id}",
        "groups/{group_id}",
        "curricula/{student_id}",
        "bell-schedules/{bell_schedule_id}",
        "calendars/{year}",
        "study-plans/{plan_id}",
    )
]
STATUSES = {
    ("put", SCHOOL_PATH): {"200", "400", "401", "403", "409", "413", "422"},
    **{
        ("put", path): {"200", "400", "401", "403", "404", "409", "413", "422"}
        for path in REFERENCE_PUTS
    },
    ("post", f"{SCHOOL_PATH}/journal"): {"200", "400", "401", "403", "404", "413", "422"},
    ("get", f"{SCHOOL_PATH}/students/{{student_id}}/marks"): {"200", "401", "403", "404", "422"},
}


def test_every_journal_operation_documents_every_status_it_can_answer() -> None:
    """Issue 12, defect 9: each status with its content type and the error shape the
    service really sends: `{"detail": "…"}`, or for 422 `{"detail": [{"loc", "msg",
    "type"}]}` whether FastAPI or the service refused the input."""
    document = grades_openapi()
    schemas = document["components"]["schemas"]
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in methods.items()
    }
    assert set(operations) == set(STATUSES)
    for key, operation in operations.items():
        responses = operation["responses"]
        assert set(responses) == STATUSES[key], key
        for code, response in responses.items():
            assert response["description"], (key, code)
            schema = response["content"]["application/json"]["schema"]
            if code.startswith("4"):
                detail = schemas[schema["$ref"].rsplit("/", 1)[-1]]["properties"]["detail"]
                if code == "422":
                    item = schemas[detail["items"]["$ref"].rsplit("/", 1)[-1]]
                    assert set(item["required"]) == {"loc", "msg", "type"}, key
                else:
                    assert detail["type"] == "string", (key, code)
