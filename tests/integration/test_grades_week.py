"""Clause 4 through the grades service on the real broker and database (issue 13): reference
records by PUT, the week's items in the journal batch, each change one event, teachers only
for their classes and groups, `announce` copied into the facts."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from schemas import Topics
from schemas.classwork import AssessmentPlanned, HomeworkAssigned, RecommendationPosted
from schemas.timetable import (
    GroupChanged,
    LessonChangePosted,
    SchoolCalendarChanged,
    TimetableLessonChanged,
)
from tests.conftest import AUTH, bearer
from tests.kafka_tools import read_topic
from tests.school import SCHOOL, load_grades_reference, post_journal
from tests.servers import Servers
from tests.services import running

BASE = f"/v1/schools/{SCHOOL}"
GROUP = {
    "class_id": "5a",
    "name": "Английский, группа 1",
    "group_kind": "subject_split",
    "subject_id": "en",
    "student_ids": ["st-1"],
    "teacher_ids": ["t-3"],
}
CURRICULUM = {
    "school_year": "2026/2027",
    "education_level": "primary",
    "valid_from": "2026-09-01",
    "valid_to": "2027-05-31",
    "subjects": [{"subject_id": "math", "teacher_id": "t-1", "hours_per_week": 2}],
}
BELLS = {
    "name": "Основное расписание звонков",
    "bells": [
        {"lesson_number": 1, "starts_at": "08:30", "ends_at": "09:15"},
        {"lesson_number": 2, "starts_at": "09:25", "ends_at": "10:10"},
    ],
}
CALENDAR = {
    "school_year": "2026/2027",
    "starts_on": "2026-09-01",
    "ends_on": "2027-05-26",
    "non_school_days": [
        {
            "name": "Зимние каникулы",
            "days_kind": "holidays",
            "starts_on": "2026-12-29",
            "ends_on": "2027-01-08",
        }
    ],
}
WEEK_REFERENCE = [
    ("/subjects/en", {"name": "Английский язык"}),
    ("/teachers/t-3", {"name": "Сидорова Мария Ивановна", "assignments": []}),
    ("/groups/5a-en-1", GROUP),
    ("/curricula/st-2", CURRICULUM),
    ("/bell-schedules/main", BELLS),
    ("/calendars/2026", CALENDAR),
]


async def load_week_reference(grades: httpx.AsyncClient) -> None:
    await load_grades_reference(grades)
    for path, body in WEEK_REFERENCE:
        response = await grades.put(f"{BASE}{path}", json=body, headers=AUTH)
        assert response.status_code == 200, response.text


LESSON = {
    "kind": "timetable_lesson",
    "lesson_id": "tt-1",
    "class_id": "5a",
    "weekday": 1,
    "lesson_number": 1,
    "subject_id": "math",
    "teacher_id": "t-1",
    "valid_from": "2026-09-01",
    "valid_to": "2026-12-28",
}
CHANGE = {
    "kind": "lesson_change",
    "change_id": "ch-1",
    "change": "substitution",
    "class_id": "5a",
    "group_id": "5a-en-1",
    "lesson_date": "2026-12-01",
    "lesson_number": 3,
    "subject_id": "en",
    "teacher_id": "t-3",
    "substitute_teacher_id": "t-1",
    "reason": "болезнь учителя",
}
TEST = {
    "kind": "assessment",
    "assessment_id": "a-1",
    "assessment_kind": "test",
    "class_id": "5a",
    "subject_id": "math",
    "period_id": "q2",
    "assessment_date": "2026-12-10",
    "lesson_number": 2,
}
HOMEWORK = {
    "kind": "homework",
    "homework_id": "hw-1",
    "class_id": "5a",
    "subject_id": "math",
    "teacher_id": "t-1",
    "lesson_date": "2026-11-30",
    "due_on": "2026-12-02",
    "text": "№ 245, 247",
}
ADVICE = {
    "kind": "recommendation",
    "recommendation_id": "r-1",
    "student_id": "st-1",
    "teacher_id": "t-1",
    "given_on": "2026-11-30",
    "text": "Повторить таблицу умножения на 7 и 8",
}
# Each kind: the item, its correction, its withdrawal, the topic and the events expected once.
LIFECYCLES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], Any, list[str]]] = [
    (
        LESSON,
        {"room": "214"},
        {"kind": "timetable_lesson_removal", "lesson_id": "tt-1"},
        TimetableLessonChanged,
        ["TimetableLessonChanged", "TimetableLessonChanged", "TimetableLessonRemoved"],
    ),
    (
        CHANGE,
        {"reason": "учитель на курсах"},
        {"kind": "lesson_change_retraction", "change_id": "ch-1", "reason": "вышла на работу"},
        LessonChangePosted,
        ["LessonChangePosted", "LessonChangeCorrected", "LessonChangeRetracted"],
    ),
    (
        TEST,
        {"assessment_date": "2026-12-11"},
        {"kind": "assessment_cancellation", "assessment_id": "a-1"},
        AssessmentPlanned,
        ["AssessmentPlanned", "AssessmentRescheduled", "AssessmentCancelled"],
    ),
    (
        HOMEWORK,
        {"due_on": "2026-12-03"},
        {"kind": "homework_retraction", "homework_id": "hw-1"},
        HomeworkAssigned,
        ["HomeworkAssigned", "HomeworkCorrected", "HomeworkRetracted"],
    ),
    (
        ADVICE,
        {"text": "Решить задачи 1–5 на с. 40"},
        {"kind": "recommendation_retraction", "recommendation_id": "r-1"},
        RecommendationPosted,
        ["RecommendationPosted", "RecommendationCorrected", "RecommendationRetracted"],
    ),
]


def statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["status"] for item in response.json()["items"]]


async def test_reference_records_are_put_whole_and_published_once(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_week_reference(grades)
        again = [
            (await grades.put(f"{BASE}{path}", json=body, headers=AUTH)).json()["status"]
            for path, body in WEEK_REFERENCE[2:]
        ]
        moved = await grades.put(f"{BASE}/calendars/2027", json=CALENDAR, headers=AUTH)
        ghost = await grades.put(
            f"{BASE}/groups/g-2", json={**GROUP, "teacher_ids": ["nobody"]}, headers=AUTH
        )
        unknown_school = await grades.put(
            "/v1/schools/school-9/groups/g", json=GROUP, headers=bearer("admin", "school-9")
        )
        foreign = await grades.put(
            f"{BASE}/groups/g", json=GROUP, headers=bearer("admin", "school-9")
        )
        teacher = await grades.put(
            f"{BASE}/groups/g", json=GROUP, headers=bearer("teacher", person_id="t-3")
        )
        enrolment = await read_topic(
            servers.kafka_bootstrap, topics.of(GroupChanged), at_least=2, settle=1.0
        )
        timetable = await read_topic(
            servers.kafka_bootstrap, topics.of(TimetableLessonChanged), at_least=1, settle=1.0
        )
        calendar = await read_topic(
            servers.kafka_bootstrap, topics.of(SchoolCalendarChanged), at_least=1, settle=1.0
        )

    assert again == ["unchanged"] * 4
    assert moved.status_code == 422
    assert moved.json()["detail"][0]["loc"] == ["body", "school_year"]
    assert ghost.status_code == 422
    assert ghost.json()["detail"][0]["loc"] == ["body", "teacher_ids", "0"]
    assert unknown_school.status_code == 404
    assert foreign.status_code == 403
    assert teacher.status_code == 403
    types = Counter(_type(record.value) for record in enrolment)
    assert types == {"GroupChanged": 1, "IndividualCurriculumChanged": 1}
    assert [_type(record.value) for record in timetable] == ["BellScheduleChanged"]
    assert [_type(record.value) for record in calendar] == ["SchoolCalendarChanged"]
    [plan] = [r for r in enrolment if _type(r.value) == "IndividualCurriculumChanged"]
    assert b'"education_level":"primary"' in plan.value  # the student's own level, end to end
    [group] = [r for r in enrolment if _type(r.value) == "GroupChanged"]
    assert group.key == f"{SCHOOL}/5a".encode()


async def test_each_item_kind_is_posted_corrected_and_withdrawn_as_one_event_each(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_week_reference(grades)
        answers = [
            statuses(await post_journal(grades, *sent))
            for sent in (
                [item for item, *_ in LIFECYCLES],
                [item for item, *_ in LIFECYCLES],  # a resend: nothing published
                [{**item, **correction} for item, correction, *_ in LIFECYCLES],
                [withdrawal for _, _, withdrawal, *_ in LIFECYCLES],
                [withdrawal for _, _, withdrawal, *_ in LIFECYCLES],
            )
        ]
        published = {
            event.__name__: await read_topic(
                servers.kafka_bootstrap, topics.of(event), at_least=len(types), settle=1.5
            )
            for _, _, _, event, types in LIFECYCLES
        }

    assert answers == [
        ["accepted"] * 5,
        ["duplicate"] * 5,
        ["corrected"] * 5,
        ["retracted"] * 5,
        ["duplicate"] * 5,
    ]
    for _, _, _, event, types in LIFECYCLES:
        # The bell schedule shares the timetable's topic: only this kind's events count.
        found = [_type(record.value) for record in published[event.__name__]]
        assert [t for t in found if t in types] == types, event.__name__
    change = LessonChangePosted.model_validate_json(published["LessonChangePosted"][0].value)
    assert change.payload.group_name == "Английский, группа 1"
    assert change.payload.substitute_teacher_name == "Петрова Анна Сергеевна"
    assert change.payload.record_version == 1 and change.payload.announce is True


async def test_a_teacher_is_refused_outside_their_classes_and_groups(
    service_env: dict[str, object], run_id: str
) -> None:
    t1, t3 = bearer("teacher", person_id="t-1"), bearer("teacher", person_id="t-3")
    async with running("grades", run_id, **service_env) as grades:
        await load_week_reference(grades)
        own_group = await post_journal(grades, CHANGE, headers=t3)
        other_class = await post_journal(grades, {**HOMEWORK, "class_id": "6b"}, headers=t1)
        not_the_group = await post_journal(
            grades, {**CHANGE, "change_id": "ch-2", "substitute_teacher_id": "t-3"}, headers=t1
        )
        foreign_student = await post_journal(grades, {**ADVICE, "student_id": "st-3"}, headers=t1)
        own = await post_journal(grades, HOMEWORK, ADVICE, headers=t1)
        colleagues = await post_journal(
            grades, {"kind": "homework_retraction", "homework_id": "hw-1"}, headers=t3
        )

    assert statuses(own_group) == ["accepted"]
    for refused, field in (
        (other_class, "class_id"),
        (not_the_group, "group_id"),
        (foreign_student, "student_id"),
        (colleagues, "homework_id"),
    ):
        assert refused.status_code == 403, refused.text
        assert field in refused.json()["detail"]
    assert statuses(own) == ["accepted", "accepted"]


async def test_announce_false_is_copied_into_the_facts(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with running("grades", run_id, **service_env) as grades:
        await load_week_reference(grades)
        loaded = await grades.post(
            f"{BASE}/journal",
            json={"items": [CHANGE, TEST, HOMEWORK], "announce": False},
            headers=AUTH,
        )
        news = await post_journal(grades, {**TEST, "assessment_id": "a-2"})
        changes = await read_topic(
            servers.kafka_bootstrap, topics.of(LessonChangePosted), at_least=1
        )
        tests = await read_topic(servers.kafka_bootstrap, topics.of(AssessmentPlanned), at_least=2)
        homework = await read_topic(
            servers.kafka_bootstrap, topics.of(HomeworkAssigned), at_least=1
        )

    assert statuses(loaded) == ["accepted"] * 3
    assert statuses(news) == ["accepted"]
    assert LessonChangePosted.model_validate_json(changes[0].value).payload.announce is False
    assert HomeworkAssigned.model_validate_json(homework[0].value).payload.announce is False
    announced = {
        event.payload.assessment_id: event.payload.announce
        for event in (AssessmentPlanned.model_validate_json(r.value) for r in tests)
    }
    assert announced == {"a-1": False, "a-2": True}


def _type(raw: bytes) -> str:
    import json

    return str(json.loads(raw)["type"])
