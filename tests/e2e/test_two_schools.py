"""Two schools whose journals use the same ids, side by side through all four services
(issue 12, defect 1): each family hears about its own school's child only, one school's
revocation or registration never touches the other's, and no token crosses over."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from schemas import NotificationSent, Topics
from tests.conftest import bearer
from tests.kafka_tools import eventually, read_topic
from tests.mailbox import received
from tests.school import a_mark, admin_of, load_grades_reference, load_guardian, post_journal
from tests.servers import Servers
from tests.services import running

A, B = "school-a", "school-b"


def mail_to(mail_dir: Path) -> dict[str, str]:
    """Recipient address → subject of every e-mail received."""
    return {str(message["To"]): str(message["Subject"]) for message in received(mail_dir)}


async def test_two_schools_with_the_same_ids_never_touch_each_others_families(
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
    sms_gateway: str,
) -> None:
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        notifier = await stack.enter_async_context(
            running(
                "notifier", run_id, smtp_port=smtp_server.port, sms_url=sms_gateway, **service_env
            )
        )
        digest = await stack.enter_async_context(running("digest", run_id, **service_env))
        for school in (A, B):
            await load_grades_reference(grades, school)
        # School A's g-1 revokes; then school B registers its own g-1, and A's g-2 declares
        # paper only while B's g-2 keeps e-mail: every pair of records shares its ids.
        await load_guardian(consent, "g-1", "Мать А", "st-1", email="a1@example.org", school=A)
        revoked = await consent.post(
            f"/v1/schools/{A}/consents/c-g-1/revocation", json={}, headers=admin_of(A)
        )
        await load_guardian(consent, "g-1", "Мать Б", "st-1", email="b1@example.org", school=B)
        await load_guardian(
            consent,
            "g-2",
            "Отец А",
            "st-1",
            email="a2@example.org",
            preferences={"paper_only_reason": "нет интернета"},
            school=A,
        )
        await load_guardian(consent, "g-2", "Отец Б", "st-1", email="b2@example.org", school=B)

        in_a = await post_journal(grades, a_mark("m-1", value="5"), school=A)
        in_b = await post_journal(grades, a_mark("m-1", value="3"), school=B)

        async def both_of_b() -> dict[str, str] | None:
            received = mail_to(mail_dir)
            return received if {"b1@example.org", "b2@example.org"} <= set(received) else None

        received = await eventually(both_of_b, timeout=60)
        # Every send of the run has been reported by now: B's two e-mails and two inbox notes.
        await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationSent), at_least=4, settle=2.0
        )
        received = mail_to(mail_dir)

        async def week(school: str) -> list[str] | None:
            answer = await digest.get(
                f"/v1/schools/{school}/students/st-1/weeks/2026-W48", headers=admin_of(school)
            )
            if answer.status_code != 200:
                return None
            return [m["value"] for s in answer.json()["subjects"] for m in s["marks"]] or None

        weeks = {school: await eventually(lambda s=school: week(s)) for school in (A, B)}
        inbox_b = await notifier.get(
            f"/v1/schools/{B}/recipients/g-1/inbox",
            headers=bearer("parent", school_id=B, person_id="g-1"),
        )
        inbox_a = await notifier.get(
            f"/v1/schools/{A}/recipients/g-1/inbox",
            headers=bearer("parent", school_id=A, person_id="g-1"),
        )
        crossing: list[Any] = [
            await consent.get(f"/v1/schools/{B}/recipients/g-1/history", headers=admin_of(A)),
            await digest.get(f"/v1/schools/{B}/students/st-1/weeks/2026-W48", headers=admin_of(A)),
            await notifier.get(
                f"/v1/schools/{B}/recipients/g-1/inbox",
                headers=bearer("parent", school_id=A, person_id="g-1"),
            ),
            await post_journal(grades, a_mark("m-2"), school=B, headers=admin_of(A)),
        ]

    assert revoked.status_code == 200
    assert in_a.json()["summary"]["accepted"] == in_b.json()["summary"]["accepted"] == 1
    assert set(received) == {"b1@example.org", "b2@example.org"}
    assert all("— 3" in subject for subject in received.values()), received
    assert weeks == {A: ["5"], B: ["3"]}
    assert len(_entries(inbox_b)) == 1
    assert _entries(inbox_a) == []
    assert [answer.status_code for answer in crossing] == [403, 403, 403, 403]


def _entries(inbox: Any) -> list[Any]:
    return inbox.json()["items"]  # type: ignore[no-any-return]
