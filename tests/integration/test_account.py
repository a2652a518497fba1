"""The personal account on the real broker and database (issue 14): consent publishes a
contact's digest, the account recognises it at sign-in and asks the notifier to send a code;
activation codes; sessions and who may see which child."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

import httpx
from aiokafka.structs import ConsumerRecord

from schemas import NotificationRequested, Topics
from schemas.consent import ContactChanged
from schemas.journal import StudentChanged
from services.shared.contacts import DEV_CONTACT_DIGEST_KEY, contact_digest
from tests.account_forms import challenge_of, csrf_of
from tests.builders import a_student_changed
from tests.conftest import AUTH, bearer
from tests.kafka_tools import caught_up, eventually, produce_events, read_topic
from tests.school import SCHOOL, a_consent, load_guardian
from tests.servers import Servers
from tests.services import running

SENT = "Если этот адрес зарегистрирован в школе, мы отправили на него код"


async def request_code(account: httpx.AsyncClient, contact: str) -> httpx.Response:
    form = await account.get("/sign-in")
    return await account.post("/sign-in", data={"contact": contact, "csrf_token": csrf_of(form)})


def code_requests(records: list[ConsumerRecord[bytes, bytes]]) -> list[NotificationRequested]:
    requests = [NotificationRequested.model_validate_json(r.value) for r in records]
    return [r for r in requests if r.payload.content.kind == "sign_in_code"]


async def test_a_parent_signs_in_with_a_code_sent_to_the_contact_the_school_holds(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with AsyncExitStack() as stack:
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        account = await stack.enter_async_context(
            running("account", run_id, secure_cookies=False, **service_env)
        )
        await load_guardian(
            consent, "g-1", "Мария Петрова", ("st-1", "st-2"), email="Maria@Example.org"
        )
        await load_guardian(consent, "g-2", "Иван Сидоров", "st-3")
        await produce_events(
            servers.kafka_bootstrap, [a_student_changed("st-1", "5a", "Петя Петров")], f"{run_id}."
        )
        changes = await read_topic(
            servers.kafka_bootstrap, topics.of(ContactChanged), at_least=4, settle=1.0
        )
        await eventually(
            lambda: caught_up(
                servers.kafka_bootstrap,
                f"{run_id}-account",
                {topics.of(ContactChanged): len(changes), topics.of(StudentChanged): 1},
            )
        )

        sent = await request_code(account, "  MARIA@example.org ")
        unknown = await request_code(account, "nobody@example.org")
        records = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=1, settle=1.0
        )
        [request] = code_requests(records)
        code = request.payload.content.code  # type: ignore[union-attr]

        challenge = challenge_of(sent)
        wrong = await account.post(
            "/sign-in/code",
            data={"challenge": challenge, "code": "000000", "csrf_token": csrf_of(sent)},
        )
        right = await account.post(
            "/sign-in/code",
            data={"challenge": challenge, "code": code, "csrf_token": csrf_of(sent)},
            follow_redirects=False,
        )
        session_cookie = right.cookies.get("vestnik_session")
        home = await account.get("/")
        own = await account.get(f"/children/{SCHOOL}/st-1")
        other_family = await account.get(f"/children/{SCHOOL}/st-3")
        unknown_child = await account.get(f"/children/{SCHOOL}/st-999")
        stale_form = await account.post(
            "/sign-in/code",
            data={"challenge": challenge, "code": code, "csrf_token": csrf_of(sent)},
        )
        no_csrf = await account.post("/sign-out", follow_redirects=False)
        signed_out = await account.post(
            "/sign-out", data={"csrf_token": csrf_of(home)}, follow_redirects=False
        )
        after = await account.get("/", follow_redirects=False)
        fresh = await account.get("/sign-in")
        reused = await account.post(
            "/sign-in/code",
            data={"challenge": challenge, "code": code, "csrf_token": csrf_of(fresh)},
        )

        # The school prints an activation code for the family without e-mail.
        issued = await account.post(
            f"/v1/schools/{SCHOOL}/recipients/g-2/activation-codes", headers=AUTH
        )
        parent = await account.post(
            f"/v1/schools/{SCHOOL}/recipients/g-2/activation-codes",
            headers=bearer("parent", person_id="g-2"),
        )
        activation = issued.json()["code"]
        account.cookies.clear()  # another browser: nothing of the first family
        family = account
        form = await family.get("/activate")
        activated = await family.post(
            "/activate",
            data={"activation_code": activation.lower(), "csrf_token": csrf_of(form)},
            follow_redirects=False,
        )
        their_home = await family.get("/")
        not_theirs = await family.get(f"/children/{SCHOOL}/st-1")
        # The same family on a second device, which then signs out everywhere.
        first_device = dict(family.cookies)
        family.cookies.clear()
        second = await account.post(
            f"/v1/schools/{SCHOOL}/recipients/g-2/activation-codes", headers=AUTH
        )
        form = await family.get("/activate")
        await family.post(
            "/activate",
            data={"activation_code": second.json()["code"], "csrf_token": csrf_of(form)},
        )
        second_home = await family.get("/")
        everywhere = await family.post(
            "/sign-out/everywhere",
            data={"csrf_token": csrf_of(second_home)},
            follow_redirects=False,
        )
        family.cookies.clear()
        family.cookies.update(first_device)
        first_after = await family.get("/", follow_redirects=False)
        family.cookies.clear()
        # Three code requests per contact in 15 minutes: the unknown one has had one.
        limited = [(await request_code(account, "nobody@example.org")).status_code for _ in "123"]
        form = await family.get("/activate")
        again = await family.post(
            "/activate", data={"activation_code": activation, "csrf_token": csrf_of(form)}
        )
        sign_ins = await account.get(f"/v1/schools/{SCHOOL}/sign-ins", headers=AUTH)

    digests = {
        ContactChanged.model_validate_json(r.value).payload.address_digest
        for r in changes
        if r.value and b"ContactChanged" in r.value
    }
    assert contact_digest("email", "maria@example.org", DEV_CONTACT_DIGEST_KEY) in digests
    assert all(b"maria" not in r.value.lower() for r in changes if r.value)  # no address travels

    assert sent.status_code == unknown.status_code == 200
    assert SENT in sent.text and SENT in unknown.text  # no enumeration
    assert request.payload.address == "maria@example.org"
    assert (request.payload.channel, request.payload.category) == ("email", "account")
    assert request.payload.priority == "urgent"
    assert request.payload.recipient_id == "g-1" and request.payload.student_id == "st-1"
    assert re.fullmatch(r"\d{6}", code)

    assert wrong.status_code == 400 and "Код не подходит" in wrong.text
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert session_cookie and "HttpOnly" in right.headers["set-cookie"]
    assert "SameSite=lax" in right.headers["set-cookie"]
    assert home.status_code == 200
    assert f'href="/children/{SCHOOL}/st-1"' in home.text and "Петя Петров" in home.text
    assert f'href="/children/{SCHOOL}/st-2"' in home.text
    assert own.status_code == 200
    assert other_family.status_code == unknown_child.status_code == 404  # never 403
    assert stale_form.status_code == 403  # its CSRF cookie went with the sign-in
    assert reused.status_code == 400 and "больше не действует" in reused.text
    assert no_csrf.status_code == 403
    assert signed_out.status_code == 303 and after.status_code == 303

    assert issued.status_code == 201
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", activation)
    assert parent.status_code == 403
    assert activated.status_code == 303
    assert f"/children/{SCHOOL}/st-3" in their_home.text
    assert not_theirs.status_code == 404
    assert second_home.status_code == 200
    assert everywhere.status_code == 303
    assert first_after.status_code == 303  # the first device's session ended too
    assert limited == [200, 200, 429]
    assert again.status_code == 400  # single use
    methods = {(i["recipient_id"], i["method"]) for i in sign_ins.json()["items"]}
    assert methods == {("g-1", "code"), ("g-2", "activation_code")}
    assert len(sign_ins.json()["items"]) == 3


async def test_a_student_has_their_own_sign_in_from_basic_level_on_and_sees_only_themselves(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    """Issue 14: students of basic and secondary level sign in for themselves; a primary-school
    child's own sign-in shows nothing (their account is their parents')."""
    primary = a_student_changed("st-8", "1a", "Коля Малышев")
    primary = primary.model_copy(
        update={"payload": primary.payload.model_copy(update={"education_level": "primary"})}
    )
    async with AsyncExitStack() as stack:
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        account = await stack.enter_async_context(
            running("account", run_id, secure_cookies=False, **service_env)
        )
        for recipient, student in (("s-9", "st-9"), ("s-8", "st-8")):
            body = {"kind": "student", "name": f"Ученик {student}", "student_ids": [student]}
            base = f"/v1/schools/{SCHOOL}"
            saved = [
                await consent.put(f"{base}/recipients/{recipient}", json=body, headers=AUTH),
                await consent.put(
                    f"{base}/consents/c-{recipient}",
                    json=a_consent(recipient, student, "granted"),
                    headers=AUTH,
                ),
            ]
            assert [r.status_code for r in saved] == [204, 201], [r.text for r in saved]
        await load_guardian(consent, "g-8", "Малышева Анна", "st-8")
        await produce_events(
            servers.kafka_bootstrap,
            [a_student_changed("st-9", "7a", "Оля Старшая"), primary],
            f"{run_id}.",
        )
        decided = await read_topic(
            servers.kafka_bootstrap, f"{run_id}.consent.changes.v1", at_least=3, settle=1.0
        )
        await eventually(
            lambda: caught_up(
                servers.kafka_bootstrap,
                f"{run_id}-account",
                {f"{run_id}.consent.changes.v1": len(decided), topics.of(StudentChanged): 2},
            )
        )
        homes = {}
        for recipient in ("s-9", "s-8", "g-8"):
            account.cookies.clear()
            issued = await account.post(
                f"/v1/schools/{SCHOOL}/recipients/{recipient}/activation-codes", headers=AUTH
            )
            form = await account.get("/activate")
            await account.post(
                "/activate",
                data={"activation_code": issued.json()["code"], "csrf_token": csrf_of(form)},
            )
            homes[recipient] = (await account.get("/")).text

    assert f'href="/children/{SCHOOL}/st-9"' in homes["s-9"] and "Оля Старшая" in homes["s-9"]
    assert "/children/" not in homes["s-8"]  # primary level: no own account
    assert f'href="/children/{SCHOOL}/st-8"' in homes["g-8"]  # their parent sees them
