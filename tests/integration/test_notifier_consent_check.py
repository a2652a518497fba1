"""Issue 16: the notifier asks consent itself right before each e-mail and SMS is handed over,
so a revocation or a new contact that consent accepted a moment ago stops it, before Kafka has
told the notifier's own view. Here the notifier listens on topics of its own: its view never
hears of the change, and only the question to the real consent service can stop the sends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from schemas import FinalMarkPosted, MarkPosted, NotificationRequested, Topics
from services.consent.domain import HAND_OVER_WINDOW, notification_requests
from services.shared.auth import issue_token
from tests.builders import CONSENTING, a_final_mark_posted, a_mark_posted
from tests.conftest import AUTH, TEST_SECRET
from tests.kafka_tools import eventually, produce_event
from tests.school import SCHOOL, WRITTEN, admin_of, load_guardian
from tests.servers import Servers
from tests.services import running, serving


def requests_for(event: Any) -> dict[str, NotificationRequested]:
    """What consent made of `event` for the guardian of `CONSENTING`, by channel; SMS without
    quiet hours, so that the test need not wait for the morning."""
    requests, _ = notification_requests(event, [CONSENTING], datetime.now(UTC))
    return {
        r.payload.channel: r.model_copy(
            update={"payload": r.payload.model_copy(update={"quiet_hours": None})}
        )
        for r in requests
    }


def a_final_mark() -> FinalMarkPosted:
    obtained = datetime.now(UTC) - timedelta(hours=1)
    return FinalMarkPosted.new(a_final_mark_posted(obtained), producer="test")


# A mark's e-mail to the guardian `load_guardian` registers as g-1, as the notifier asks.
NOTICE = {
    "recipient_id": "g-1",
    "student_ids": ["st-1"],
    "channel": "email",
    "category": "marks",
    "address": "maria@example.org",
}


def service_token(school: str) -> dict[str, str]:
    token = issue_token(
        TEST_SECRET,
        role="service",
        school_id=school,
        subject="notifier",
        audience=("consent",),
        ttl=timedelta(minutes=5),
    )
    return {"Authorization": f"Bearer {token}"}


async def test_a_change_consent_accepted_stops_a_notice_the_notifiers_view_never_heard_of(
    servers: Servers,
    service_env: dict[str, object],
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    alone = Topics(prefix=f"{run_id}.alone.")
    async with (
        serving("consent", run_id, **service_env) as consent_url,
        httpx.AsyncClient(base_url=consent_url, timeout=30) as consent,
        running(
            "notifier",
            run_id,
            **{**service_env, "topic_prefix": alone.prefix},
            smtp_port=smtp_server.port,
            sms_url=sms_gateway,
            consent_url=consent_url,
            scheduler_poll_seconds=0.3,
            fallback="parallel",  # the final mark's SMS does not wait for its e-mail
        ) as notifier,
    ):
        await load_guardian(
            consent,
            "g-1",
            "Иванова Мария Петровна",
            "st-1",
            email="maria@example.org",
            phone="+79161234567",
        )

        async def publish(request: NotificationRequested) -> None:
            await produce_event(servers.kafka_bootstrap, alone.of(NotificationRequested), request)

        async def delivery(request: NotificationRequested, status: str) -> dict[str, Any] | None:
            found = (
                await notifier.get(f"/v1/schools/{SCHOOL}/deliveries?status={status}", headers=AUTH)
            ).json()["items"]
            key = request.payload.dedupe_key
            return next((d for d in found if d["_id"] == key), None)

        # Allowed: consent answers yes, the e-mail goes.
        first = requests_for(MarkPosted.new(a_mark_posted(mark_id="m-1"), producer="test"))
        await publish(first["email"])
        await publish(first["inbox"])
        await eventually(lambda: delivery(first["email"], "sent"))
        await eventually(lambda: delivery(first["inbox"], "sent"))

        # A new e-mail address, handed over a moment ago: the old one gets nothing.
        base = f"/v1/schools/{SCHOOL}/recipients/g-1"
        changed = await consent.put(
            f"{base}/contacts/email",
            json={"address": "new@example.org", "proof": WRITTEN},
            headers=admin_of(SCHOOL),
        )
        assert changed.status_code == 204
        second = requests_for(MarkPosted.new(a_mark_posted(mark_id="m-2"), producer="test"))
        await publish(second["email"])
        moved = await eventually(lambda: delivery(second["email"], "cancelled"))
        assert moved["last_error"] == "email contact changed since the notice was made"

        # Consent revoked: neither the final mark's SMS nor its e-mail goes.
        revoked = await consent.post(
            f"/v1/schools/{SCHOOL}/consents/c-g-1/revocation",
            json={"reason": "заявление"},
            headers=admin_of(SCHOOL),
        )
        assert revoked.status_code == 200
        final = requests_for(a_final_mark())
        await publish(final["sms"])
        await publish(final["email"])
        await publish(final["inbox"])  # nor does it appear in the personal account
        sms = await eventually(lambda: delivery(final["sms"], "cancelled"))
        email = await eventually(lambda: delivery(final["email"], "cancelled"))
        inbox = await eventually(lambda: delivery(final["inbox"], "cancelled"))
        today = datetime.now(UTC).date().isoformat()
        assert sms["last_error"] == email["last_error"] == f"consent revoked on {today}"
        assert inbox["last_error"] == f"consent revoked on {today}"
        messages = await notifier.get(f"/v1/schools/{SCHOOL}/recipients/g-1/inbox", headers=AUTH)
        assert len(messages.json()["items"]) == 1  # the first mark's only

    assert len(list(mail_dir.glob("*.eml"))) == 1
    assert list(sms_dir.glob("*.json")) == []


async def test_only_a_service_token_of_the_school_asks_and_bad_questions_are_named(
    service_env: dict[str, object], run_id: str
) -> None:
    path = f"/v1/schools/{SCHOOL}/notice-checks"
    async with running("consent", run_id, **service_env) as consent:
        await load_guardian(
            consent, "g-1", "Иванова Мария Петровна", "st-1", email="maria@example.org"
        )
        unknown = {**NOTICE, "recipient_id": "g-404"}
        answer = await consent.post(
            path, json={"notices": [NOTICE, unknown]}, headers=service_token(SCHOOL)
        )
        assert answer.status_code == 200
        assert answer.json() == {
            "results": [
                {"send": True, "reason": None},
                {"send": False, "reason": "no longer a recipient of this student's news"},
            ],
            "hand_over_within_seconds": HAND_OVER_WINDOW.total_seconds(),
        }
        for headers in (admin_of(SCHOOL), service_token("school-2")):
            refused = await consent.post(path, json={"notices": [NOTICE]}, headers=headers)
            assert refused.status_code == 403
        empty = await consent.post(path, json={"notices": []}, headers=service_token(SCHOOL))
        assert empty.status_code == 422
        assert empty.json()["detail"][0]["loc"] == ["body", "notices"]
        bad = await consent.post(
            path, json={"notices": [{**NOTICE, "channel": "fax"}]}, headers=service_token(SCHOOL)
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "notices", 0, "channel"]


async def test_a_change_answers_only_after_the_hand_over_windows_of_its_recipient(
    service_env: dict[str, object], run_id: str
) -> None:
    """The window closes the last gap: consent said yes, then the address changed, then the
    notifier's dot. A change overlapping a yes counts as made (answers) only after the window
    the notifier hands over within; another family's change does not wait."""
    path = f"/v1/schools/{SCHOOL}/notice-checks"
    base = f"/v1/schools/{SCHOOL}/recipients"
    async with running("consent", run_id, **service_env) as consent:
        await load_guardian(
            consent, "g-1", "Иванова Мария Петровна", "st-1", email="maria@example.org"
        )
        await load_guardian(consent, "g-2", "Петрова Ольга", "st-2", email="olga@example.org")
        asked = time.monotonic()
        answer = await consent.post(path, json={"notices": [NOTICE]}, headers=service_token(SCHOOL))
        assert answer.json()["results"] == [{"send": True, "reason": None}]
        window = answer.json()["hand_over_within_seconds"]

        elsewhere = await consent.put(
            f"{base}/g-2/contacts/email",
            json={"address": "olga.new@example.org", "proof": WRITTEN},
            headers=admin_of(SCHOOL),
        )
        assert elsewhere.status_code == 204
        assert time.monotonic() - asked < window  # not held by g-1's window

        moved = await consent.put(
            f"{base}/g-1/contacts/email",
            json={"address": "maria.new@example.org", "proof": WRITTEN},
            headers=admin_of(SCHOOL),
        )
        assert moved.status_code == 204
        # Stored with millisecond precision: the window's end may come out a millisecond early.
        assert time.monotonic() - asked >= window - 0.002

        again = await consent.post(path, json={"notices": [NOTICE]}, headers=service_token(SCHOOL))
        assert again.json()["results"] == [
            {"send": False, "reason": "email contact changed since the notice was made"}
        ]
