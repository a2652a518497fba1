"""The grades service on the real broker and database."""

from __future__ import annotations

from pymongo import AsyncMongoClient

from schemas import MarkEvent, MarkPosted, Topics
from schemas.journal import FinalMarkEvent
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually, read_topic
from tests.school import SCHOOL, a_mark, load_grades_reference, post_journal
from tests.servers import Servers
from tests.services import running

FINAL_MARKS = "journal.final-marks.v1"


async def test_a_batch_of_1000_with_3_bad_items_publishes_997_events_once(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    items = [a_mark(f"m-{n:04d}", student_id=("st-1", "st-2")[n % 2]) for n in range(1000)]
    items[10]["value"] = "6"
    items[500]["lesson_date"] = "вчера"
    items[999]["student_id"] = "ghost"
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        first = await post_journal(grades, *items)
        again = await post_journal(grades, *items)
        records = await read_topic(
            servers.kafka_bootstrap, topics.of(MarkPosted), at_least=997, settle=2.0
        )

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["summary"]["accepted"] == 997
    assert body["summary"]["rejected"] == 3
    rejected = {
        i["index"]: i["errors"][0]["field"] for i in body["items"] if i["status"] == "rejected"
    }
    assert rejected == {10: "value", 500: "lesson_date", 999: "student_id"}
    assert again.json()["summary"]["duplicate"] == 997
    assert again.json()["summary"]["accepted"] == 0

    events = [MarkPosted.model_validate_json(record.value) for record in records]
    assert len(events) == 997
    assert len({event.payload.mark_id for event in events}) == 997
    # Keyed by student: each student's marks sit on one partition, in the order sent.
    for student in ("st-1", "st-2"):
        partitions = {r.partition for r in records if r.key == student.encode()}
        assert len(partitions) == 1
        sent = [e.payload.mark_id for e in events if e.payload.student_id == student]
        assert sent == sorted(sent)


async def test_corrections_and_retractions_are_events_of_their_own(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        await post_journal(grades, a_mark("m-1", value="3"))
        corrected = await post_journal(grades, a_mark("m-1", value="4"))
        retracted = await post_journal(
            grades, {"kind": "mark_retraction", "mark_id": "m-1", "reason": "ошибка"}
        )
        marks = await grades.get(f"/v1/schools/{SCHOOL}/students/st-1/marks", headers=AUTH)
        records = await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=3)

    assert corrected.json()["items"][0]["status"] == "corrected"
    assert retracted.json()["items"][0]["status"] == "retracted"
    events = [_mark_event(record.value) for record in records]
    assert [e.type for e in events] == ["MarkPosted", "MarkCorrected", "MarkRetracted"]
    assert len({e.correlation_id for e in events}) == 3
    [mark] = marks.json()["items"]
    assert mark["value"] == "4" and mark["retracted"] is True


async def test_a_deferred_final_mark_then_its_value_keep_when_they_were_obtained(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    final = {
        "kind": "final_mark",
        "final_mark_id": "f-1",
        "student_id": "st-1",
        "subject_id": "math",
        "period_id": "q2",
    }
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        await post_journal(
            grades,
            {**final, "deferred_until": "2027-01-20", "obtained_at": "2026-12-26T14:00:00+03:00"},
        )
        await post_journal(
            grades, {**final, "value": "4", "obtained_at": "2027-01-18T10:30:00+03:00"}
        )
        records = await read_topic(servers.kafka_bootstrap, f"{run_id}.{FINAL_MARKS}", at_least=2)

    deferred, posted = (_final_event(record.value) for record in records)
    assert deferred.type == "FinalMarkDeferred"
    assert deferred.payload.obtained_at.isoformat() == "2026-12-26T14:00:00+03:00"
    assert posted.type == "FinalMarkPosted"
    assert posted.payload.value == "4"
    assert posted.payload.obtained_at.isoformat() == "2027-01-18T10:30:00+03:00"


async def test_roles_and_schools_are_enforced(service_env: dict[str, object], run_id: str) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        teacher = bearer("teacher", person_id="t-1")
        own = await post_journal(grades, a_mark("m-own"), headers=teacher)
        other_class = await post_journal(
            grades, a_mark("m-x", student_id="st-3", subject_id="russian"), headers=teacher
        )
        no_token = await post_journal(grades, a_mark("m-y"), headers={})
        bad_token = await post_journal(grades, a_mark("m-y"), headers={"Authorization": "Bearer x"})
        other_school = bearer("journal", school_id="school-2")
        write_b = await post_journal(grades, a_mark("m-z"), headers=other_school)
        read_b = await grades.get(f"/v1/schools/{SCHOOL}/students/st-1/marks", headers=other_school)
        read_missing = await grades.get(
            f"/v1/schools/{SCHOOL}/students/ghost/marks", headers=other_school
        )
        teacher_reference = await grades.put(
            f"/v1/schools/{SCHOOL}/subjects/art", json={"name": "ИЗО"}, headers=teacher
        )

    assert own.status_code == 200 and own.json()["items"][0]["status"] == "accepted"
    assert other_class.status_code == 403
    assert (no_token.status_code, bad_token.status_code) == (401, 401)
    assert (write_b.status_code, read_b.status_code, read_missing.status_code) == (403, 403, 403)
    assert read_b.json() == read_missing.json()  # a foreign school learns nothing
    assert teacher_reference.status_code == 403


async def test_a_teacher_touches_and_reads_only_their_own_records(
    service_env: dict[str, object], run_id: str
) -> None:
    """Issue 12, defect 5: a colleague of the same class and subject cannot overwrite or
    retract a mark by its id, a record never moves to another student, and a teacher reads
    only the subjects they teach to the student's class."""
    marks_of_st1 = f"/v1/schools/{SCHOOL}/students/st-1/marks"
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        colleague = {
            "name": "Сидорова Мария Ивановна",
            "assignments": [{"class_id": "5a", "subject_id": "math"}],
        }
        await grades.put(f"/v1/schools/{SCHOOL}/teachers/t-3", json=colleague, headers=AUTH)
        await post_journal(
            grades,
            a_mark("m-1", value="5"),
            a_mark("m-ru", subject_id="russian", teacher_id="t-2", value="3"),
        )
        t3 = bearer("teacher", person_id="t-3")
        overwrite = await post_journal(
            grades, a_mark("m-1", teacher_id="t-3", value="2"), headers=t3
        )
        retract = await post_journal(
            grades, {"kind": "mark_retraction", "mark_id": "m-1"}, headers=t3
        )
        moved = await post_journal(grades, a_mark("m-1", student_id="st-2"))
        as_journal = (await grades.get(marks_of_st1, headers=AUTH)).json()
        as_t1 = await grades.get(marks_of_st1, headers=bearer("teacher", person_id="t-1"))
        as_t2 = await grades.get(marks_of_st1, headers=bearer("teacher", person_id="t-2"))
        ghost_as_t2 = await grades.get(
            f"/v1/schools/{SCHOOL}/students/ghost/marks", headers=bearer("teacher", person_id="t-2")
        )

    assert (overwrite.status_code, retract.status_code) == (403, 403)
    assert "mark_id" in overwrite.json()["detail"]
    [moved_item] = moved.json()["items"]
    assert moved_item["status"] == "rejected"
    assert moved_item["errors"][0]["field"] == "student_id"
    assert {(m["mark_id"], m["value"], m["retracted"]) for m in as_journal["items"]} == {
        ("m-1", "5", False),
        ("m-ru", "3", False),
    }
    assert as_t1.status_code == 200
    assert [m["mark_id"] for m in as_t1.json()["items"]] == ["m-1"]
    assert (as_t2.status_code, ghost_as_t2.status_code) == (403, 403)
    assert as_t2.json() == ghost_as_t2.json()  # the same answer whether the student exists


async def test_reference_and_validation_errors_are_clear(
    service_env: dict[str, object], run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        unregistered = await post_journal(grades, a_mark("m-1"))
        await load_grades_reference(grades)
        unknown_class = await grades.put(
            f"/v1/schools/{SCHOOL}/students/st-9",
            json={"name": "Новый", "class_id": "9z"},
            headers=AUTH,
        )
        typo = await grades.put(
            f"/v1/schools/{SCHOOL}/classes/7a",
            json={"name": "7А", "education_level": "high"},
            headers=AUTH,
        )
        unchanged = await grades.put(
            f"/v1/schools/{SCHOOL}/subjects/math", json={"name": "Математика"}, headers=AUTH
        )
        too_big = await post_journal(grades, *[a_mark(f"m-{n}") for n in range(1001)])

    assert unregistered.status_code == 404
    assert "PUT /v1/schools/school-1" in unregistered.json()["detail"]
    assert unknown_class.status_code == 422
    assert unknown_class.json()["detail"][0]["loc"] == ["body", "class_id"]
    assert typo.status_code == 422
    assert typo.json()["detail"][0]["loc"] == ["body", "education_level"]
    # The documented shape only: no echo of the input, no parser internals.
    assert set(typo.json()["detail"][0]) == {"loc", "msg", "type"}
    assert unchanged.json() == {"status": "unchanged"}
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["loc"] == ["body", "items"]


async def test_input_the_store_cannot_hold_is_a_422_or_a_rejected_item_never_a_500(
    service_env: dict[str, object], run_id: str
) -> None:
    """Issue 12, defect 9: found by fuzzing. PostgreSQL (under FerretDB) cannot store a NUL
    character, and no store takes '.' or '$' in a field name; a period may not end before it
    starts."""
    base = f"/v1/schools/{SCHOOL}"
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        nul_name = await grades.put(f"{base}/subjects/art", json={"name": "ИЗО\x00"}, headers=AUTH)
        dotted_code = await grades.put(
            base, json={"name": "Школа", "absence_codes": {"Н.б": "нет"}}, headers=AUTH
        )
        backwards = await grades.put(
            f"{base}/periods/q3",
            json={
                "name": "3 четверть",
                "period_kind": "quarter",
                "school_year": "2026/2027",
                "starts_on": "2027-03-20",
                "ends_on": "2027-01-10",
            },
            headers=AUTH,
        )
        # A NUL is refused for every service before parsing; other control characters here.
        batch = await post_journal(grades, a_mark("m-1", comment="\x07"), {"kind": ["mark"]})

    for response, field in (
        (nul_name, "name"),
        (dotted_code, "absence_codes"),
        (backwards, "ends_on"),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    assert batch.status_code == 200
    assert [item["status"] for item in batch.json()["items"]] == ["rejected", "rejected"]
    assert batch.json()["items"][0]["errors"][0]["field"] == "comment"


async def test_a_students_marks_come_in_pages_and_a_body_has_a_size_limit(
    service_env: dict[str, object], run_id: str
) -> None:
    """Issue 12, defect 10: every list is paged (limit + cursor), and a body too large for
    any valid batch is refused before it is parsed."""
    marks = f"/v1/schools/{SCHOOL}/students/st-1/marks"
    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        await post_journal(grades, *[a_mark(f"m-{n}") for n in range(5)])
        pages, cursor = [], None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await grades.get(marks, params=params, headers=AUTH)).json()
            pages.append([m["mark_id"] for m in page["items"]])
            if (cursor := page["next_cursor"]) is None:
                break
        refused = [
            await grades.get(marks, params=params, headers=AUTH)
            for params in ({"limit": 0}, {"limit": 1001}, {"cursor": "../x"})
        ]
        huge = await grades.post(
            f"/v1/schools/{SCHOOL}/journal",
            content=b'{"items": [' + b" " * (17 * 2**20) + b"]}",
            headers={**AUTH, "Content-Type": "application/json"},
        )

    assert pages == [["m-0", "m-1"], ["m-2", "m-3"], ["m-4"]]
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert huge.status_code == 413
    assert "detail" in huge.json()


async def test_the_outbox_is_empty_once_published(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongo_url)
    records = client[f"{run_id}_grades"]["records"]

    async def outbox_empty() -> bool:
        return await records.count_documents({"outbox_seq": {"$exists": True}}) == 0

    async with running("grades", run_id, **service_env) as grades:
        await load_grades_reference(grades)
        await post_journal(grades, a_mark("m-1"))
        await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)
        await eventually(outbox_empty)
        assert await records.count_documents({"pending_events.0": {"$exists": True}}) == 0
        health = (await grades.get("/healthz")).json()
        metrics = (await grades.get("/metrics")).text
    await client.close()
    assert health == {"status": "ok", "checks": {"mongo": "ok", "kafka": "ok"}}
    assert 'vestnik_grades_events_published_total{type="MarkPosted"} 1.0' in metrics


async def test_the_asyncapi_document_lists_what_each_service_consumes_and_produces(
    service_env: dict[str, object], run_id: str
) -> None:
    async with running("consent", run_id, **service_env) as consent:
        document = (await consent.get("/asyncapi.json")).json()
    channels = {channel["address"] for channel in document["channels"].values()}
    assert channels == {
        f"{run_id}.{topic}"
        for topic in (
            "journal.marks.v1",
            "journal.attendance.v1",
            "journal.final-marks.v1",
            "journal.exams.v1",
            "journal.reference.v1",
            "journal.enrolment.v1",
            "journal.lesson-changes.v1",
            "journal.assessments.v1",
            "journal.homework.v1",
            "journal.recommendations.v1",
            "notify.requests.v1",
            "consent.changes.v1",
            "digest.weekly.v1",
        )
    }
    schemas = document["components"]["schemas"]
    assert "NotificationRequested" in schemas
    # Clause 4's news, each with a whole example event.
    assert schemas["LessonChangePosted"]["examples"][0]["payload"]["change"] == "substitution"


def _mark_event(raw: bytes) -> MarkEvent:
    from pydantic import TypeAdapter

    return TypeAdapter(MarkEvent).validate_json(raw)  # type: ignore[no-any-return]


def _final_event(raw: bytes) -> FinalMarkEvent:
    from pydantic import TypeAdapter

    return TypeAdapter(FinalMarkEvent).validate_json(raw)  # type: ignore[no-any-return]
