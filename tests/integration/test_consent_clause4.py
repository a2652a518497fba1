"""Clause 4's notices through consent and the notifier, on the real broker, database, SMTP and
SMS sinks: the journal's roster and a lesson change published as grades would publish them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiosmtpd.controller import Controller

from schemas import NotificationRequested, SchoolChanged, Topics
from schemas.journal import SchoolChangedPayload
from schemas.timetable import CLASS_5A, GroupChanged, GroupChangedPayload, LessonChangePosted
from tests.builders import a_lesson_change, a_student_changed
from tests.conftest import AUTH, bearer
from tests.kafka_tools import caught_up, eventually, produce_events, read_topic
from tests.mailbox import received
from tests.school import SCHOOL, load_guardian
from tests.servers import Servers
from tests.services import running

TOMORROW = datetime.now(ZoneInfo("Europe/Moscow")).date() + timedelta(days=1)
# Families here take SMS at any hour: the test must not depend on when it runs.
ANY_HOUR = {"sms_quiet_hours": {"start": "00:00", "end": "00:00"}}
STUDENTS = {
    "st-1": ("Иванов Иван", "5a"),
    "st-4": ("Иванова Мария", "5a"),
    "st-2": ("Смирнова Ольга", "5a"),
    "st-3": ("Кузнецов Артём", "6b"),
}
# guardian: (name, children, e-mail, phone)
FAMILIES = {
    "g-1": ("Иванова Елена", ("st-1", "st-4"), "ivanova@example.org", "+79160000001"),
    "g-2": ("Смирнов Олег", ("st-2",), "smirnov@example.org", "+79160000002"),
    "g-3": ("Кузнецова Анна", ("st-3",), "kuznetsova@example.org", "+79160000003"),
}


def roster() -> list[Any]:
    """The school, its students, and 5А's English in two groups; group 1 first told wrong,
    then corrected, the correction arriving before the older version."""

    def group(n: int, students: list[str], version: int) -> GroupChanged:
        return GroupChanged.new(
            GroupChangedPayload(
                **CLASS_5A,
                group_id=f"5a-en-{n}",
                group_name=f"Английский, группа {n}",
                group_kind="subject_split",
                subject_id="en",
                student_ids=tuple(students),
                record_version=version,
            ),
            producer="grades",
        )

    return [
        SchoolChanged.new(
            SchoolChangedPayload(school_id=SCHOOL, name="Школа № 1", timezone="Europe/Moscow"),
            producer="grades",
        ),
        *[
            a_student_changed(student_id, class_id, name)
            for student_id, (name, class_id) in STUDENTS.items()
        ],
        group(1, ["st-1", "st-4"], 2),
        group(1, ["st-1", "st-2"], 1),  # late and older: changes nothing
        group(2, ["st-2"], 1),
    ]


async def inbox(notifier: httpx.AsyncClient, guardian: str) -> list[dict[str, Any]]:
    response = await notifier.get(
        f"/v1/schools/{SCHOOL}/recipients/{guardian}/inbox",
        headers=bearer("parent", person_id=guardian),
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def texts(sms_dir: Path) -> list[dict[str, str]]:
    return [json.loads(path.read_text()) for path in sorted(sms_dir.glob("*.json"))]


async def test_a_substitution_for_tomorrow_reaches_the_groups_families_once_each(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    prefix = str(service_env["topic_prefix"])
    async with AsyncExitStack() as stack:
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        notifier = await stack.enter_async_context(
            running(
                "notifier", run_id, smtp_port=smtp_server.port, sms_url=sms_gateway, **service_env
            )
        )
        for guardian, (name, children, address, phone) in FAMILIES.items():
            await load_guardian(
                consent, guardian, name, children, email=address, phone=phone, preferences=ANY_HOUR
            )
        await produce_events(servers.kafka_bootstrap, roster(), prefix)

        async def roster_known() -> bool:
            return await caught_up(
                servers.kafka_bootstrap,
                f"{run_id}-consent",
                {f"{prefix}journal.reference.v1": 5, f"{prefix}journal.enrolment.v1": 3},
            )

        await eventually(roster_known, timeout=60)
        substitution = LessonChangePosted.new(
            a_lesson_change(lesson_date=TOMORROW), producer="grades"
        )
        loaded = LessonChangePosted.new(
            a_lesson_change(
                change_id="ch-loaded",
                group_id="5a-en-2",
                group_name="Английский, группа 2",
                lesson_date=TOMORROW,
                announce=False,
            ),
            producer="grades",
        )
        # The substitution twice: Kafka delivers at least once.
        await produce_events(servers.kafka_bootstrap, [loaded, substitution, substitution], prefix)

        async def arrived() -> bool:
            return (
                len(received(mail_dir)) >= 1
                and len(texts(sms_dir)) >= 1
                and len(await inbox(notifier, "g-1")) >= 1
            )

        await eventually(arrived, timeout=60)
        await asyncio.sleep(3)  # a duplicate, or a notice to another family, would be here now
        requests = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=3, settle=1.0
        )
        mails = received(mail_dir)
        sms = texts(sms_dir)
        inboxes = {guardian: await inbox(notifier, guardian) for guardian in FAMILIES}
        decisions = await consent.get(
            f"/v1/schools/{SCHOOL}/students/st-1/decisions?event={substitution.event_id}",
            headers=AUTH,
        )

    assert Counter(m["To"] for m in mails) == {"ivanova@example.org": 1}
    assert Counter(s["to"] for s in sms) == {"+79160000001": 1}
    assert {g: len(items) for g, items in inboxes.items()} == {"g-1": 1, "g-2": 0, "g-3": 0}
    [mail] = mails
    assert mail["Subject"].startswith("Замена урока: Английский язык")
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for words in ("Иванов Иван, Иванова Мария", "Грин Джон", "болезнь учителя", "2-й урок"):
        assert words in text
    assert sms[0]["msg"].startswith("Иванов Иван, Иванова Мария: замена")
    assert inboxes["g-1"][0]["student_ids"] == ["st-1", "st-4"]
    made = [NotificationRequested.model_validate_json(r.value) for r in requests]
    # Redelivered, the substitution made the same requests again, which the notifier folded.
    assert len({r.event_id for r in made}) == 3
    payloads = [r.payload for r in made]
    assert {(p.recipient_id, p.channel) for p in payloads} == {
        ("g-1", "email"),
        ("g-1", "sms"),
        ("g-1", "inbox"),
    }
    assert {p.priority for p in payloads} == {"urgent"}
    # Tomorrow's second lesson: the SMS need not wait for quiet hours.
    assert {p.quiet_hours for p in payloads if p.channel == "sms"} == {None}
    reasons = {(d["recipient_id"], d["channel"]): d for d in decisions.json()["items"]}
    assert reasons["g-1", "email"]["student_ids"] == ["st-1", "st-4"]
    assert reasons["g-1", "email"]["reason"] == "notified"
