"""The personal account in a real browser on the real stack (issue 14's acceptance): a parent
of two children asks for a code, reads it from the SMTP sink, signs in, sees a mark posted a
moment earlier, switches to the second child, opens the week's timetable and homework;
unsubscribes from mark e-mails with the e-mail's one-click link (RFC 8058), chooses SMS for
marks on the settings page (the next mark comes by SMS, not by e-mail), revokes the consent
for one child (their next mark is not sent at all), signs out; the code does not open a second
session, nor does one typed after its ten minutes; another parent cannot open the first
family's child by URL. Every page is photographed at a desktop and a phone width and must have
no serious or critical axe-core violation.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from playwright.async_api import Page, expect

from schemas import Topics
from schemas.consent import ContactChanged
from services.account.domain import CODE_LIFETIME
from tests.browser import looks_right
from tests.kafka_tools import caught_up, eventually, read_topic
from tests.mailbox import received
from tests.school import admin_of, load_guardian, post_journal
from tests.school_term import MOSCOW, SCHOOL, load_term, put_all, reference
from tests.servers import Servers
from tests.services import running, serving

PARENT = "ivanova@example.org"
PARENT_PHONE = "+79161234567"
OTHER_PARENT = "smirnov@example.org"
# A sibling in another class: st-1 is in 5А, st-3 (renamed here) in 6Б.
SIBLING = ("/students/st-3", {"name": "Иванова Мария", "class_id": "6b"})
CODE = re.compile(r"Код для входа в электронный дневник: (\d{6})")


def codes_sent_to(mail_dir: Path, address: str) -> list[str]:
    found = []
    for message in received(mail_dir):
        if message["To"] != address:
            continue
        body = message.get_body(("plain",))
        if body is not None and (code := CODE.search(body.get_content())):
            found.append(code.group(1))
    return found


async def new_code(mail_dir: Path, address: str, before: int) -> str:
    async def arrived() -> list[str]:
        codes = codes_sent_to(mail_dir, address)
        return codes if len(codes) > before else []

    return str((await eventually(arrived, timeout=60))[-1])


async def request_code(page: Page, base: str, address: str) -> None:
    await page.goto(f"{base}/sign-in")
    await page.get_by_label("Электронная почта или номер телефона").fill(address)
    await page.get_by_role("button", name="Получить код").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Введите код")


async def enter_code(page: Page, code: str) -> None:
    await page.get_by_label("Код из сообщения (6 цифр)").fill(code)
    await page.get_by_role("button", name="Войти").click()


def mails_about(mail_dir: Path, address: str, subject: str) -> list[str]:
    """The e-mails to `address` whose subject starts with `subject`, as their unsubscribe links."""
    return [
        str(message["List-Unsubscribe"])
        for message in received(mail_dir)
        if message["To"] == address and str(message["Subject"]).startswith(subject)
    ]


def texts_to(sms_dir: Path, phone: str) -> list[str]:
    return [
        record["msg"]
        for record in (json.loads(path.read_text()) for path in sms_dir.glob("*.json"))
        if record["to"] == phone
    ]


async def mark_decisions(consent: httpx.AsyncClient, student_id: str) -> list[dict[str, object]]:
    """Consent's decisions about `student_id`'s marks: who was told, on which channel, or why
    not."""
    response = await consent.get(
        f"/v1/schools/{SCHOOL}/students/{student_id}/decisions",
        params={"limit": 500},
        headers=admin_of(SCHOOL),
    )
    return [d for d in response.json()["items"] if d["event_type"] == "MarkPosted"]


async def decisions_about_the_next_mark(
    consent: httpx.AsyncClient, student_id: str, post: Callable[[], Awaitable[object]]
) -> list[dict[str, object]]:
    """`post` a mark of `student_id`; consent's decisions about it, once it has decided."""
    seen = {d["event_id"] for d in await mark_decisions(consent, student_id)}
    await post()

    async def decided() -> list[dict[str, object]]:
        return [d for d in await mark_decisions(consent, student_id) if d["event_id"] not in seen]

    return await eventually(decided, timeout=60)


def sms_about(sms_dir: Path, value: str) -> list[str]:
    return [text for text in texts_to(sms_dir, PARENT_PHONE) if f"«{value}» по предмету" in text]


def a_mark(mark_id: str, student_id: str, value: str, lesson: date) -> dict[str, object]:
    return {
        "kind": "mark",
        "mark_id": mark_id,
        "student_id": student_id,
        "subject_id": "math",
        "teacher_id": "t-1",
        "lesson_date": lesson.isoformat(),
        "value": value,
        "work_type": "самостоятельная работа",
        "weight": 1,
    }


async def test_a_parent_signs_in_by_a_mailed_code_and_follows_two_children_in_a_browser(
    page: Page,
    servers: Servers,
    service_env: dict[str, object],
    topics: Topics,
    run_id: str,
    smtp_server: Controller,
    mail_dir: Path,
    sms_gateway: str,
    sms_dir: Path,
) -> None:
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        # Consent on a real port: the account's settings pages call its API.
        consent_url = await stack.enter_async_context(serving("consent", run_id, **service_env))
        consent = await stack.enter_async_context(
            httpx.AsyncClient(base_url=consent_url, timeout=30)
        )
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        await stack.enter_async_context(
            running(
                "notifier",
                run_id,
                smtp_port=smtp_server.port,
                sms_url=sms_gateway,
                consent_url=consent_url,
                **service_env,
            )
        )
        await stack.enter_async_context(running("digest", run_id, **service_env))
        clock_ahead = [timedelta(0)]
        base = await stack.enter_async_context(
            serving(
                "account",
                run_id,
                {"clock": lambda: datetime.now(UTC) + clock_ahead[0]},
                secure_cookies=False,
                consent_url=consent_url,
                **service_env,
            )
        )
        today = datetime.now(MOSCOW).date()
        monday = today - timedelta(days=today.weekday())
        await put_all(grades, [*reference(today), SIBLING])
        await load_guardian(
            consent,
            "g-1",
            "Иванова Елена",
            ("st-1", "st-3"),
            email=PARENT,
            phone=PARENT_PHONE,
            # No SMS quiet hours (same start and end): the test may run at night.
            preferences={"sms_quiet_hours": {"start": "00:00", "end": "00:00"}},
        )
        await load_guardian(consent, "g-2", "Смирнов Олег", "st-2", email=OTHER_PARENT)
        await load_term(grades, today)
        homework = await post_journal(
            grades,
            {
                "kind": "homework",
                "homework_id": "hw-6b-russian",
                "class_id": "6b",
                "subject_id": "russian",
                "teacher_id": "t-4",
                "lesson_date": monday.isoformat(),
                "lesson_number": 1,
                "due_on": (monday + timedelta(days=2)).isoformat(),
                "text": "Упражнение 112, выучить словарные слова",
            },
        )
        assert homework.status_code == 200, homework.text
        # The account knows both parents' contacts before anyone types one.
        changes = await read_topic(
            servers.kafka_bootstrap, topics.of(ContactChanged), at_least=2, settle=1.0
        )
        await eventually(
            lambda: caught_up(
                servers.kafka_bootstrap,
                f"{run_id}-account",
                {topics.of(ContactChanged): len(changes)},
            ),
            timeout=60,
        )

        # Sign in by a code mailed to the address the school holds.
        await page.goto(f"{base}/sign-in")
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Вход в электронный дневник"
        )
        await looks_right(page, "sign-in")
        await request_code(page, base, PARENT)
        await expect(page.get_by_text("мы отправили на него код")).to_be_visible()
        await looks_right(page, "code")
        challenge = await page.locator("input[name=challenge]").input_value()
        code = await new_code(mail_dir, PARENT, before=0)
        await enter_code(page, code)
        await page.wait_for_url(f"{base}/")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Мои дети")
        children = page.get_by_role("main").get_by_role("link")
        await expect(children).to_have_text(["Иванов Иван", "Иванова Мария"])
        await looks_right(page, "home")
        session = [c for c in await page.context.cookies() if c["name"] == "vestnik_session"]
        assert session and session[0].get("httpOnly")

        # A mark posted now shows on the first child's page within seconds.
        mark = await post_journal(grades, a_mark("m-browser", "st-1", "4", today))
        assert mark.status_code == 200, mark.text
        posted = time.monotonic()
        await page.get_by_role("main").get_by_role("link", name="Иванов Иван").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Оценки")
        marks = page.locator("table.marks span.mark")

        async def mark_shown() -> bool:
            if await marks.count():
                return True
            await page.reload()
            return False

        await eventually(mark_shown, timeout=30, interval=0.5)
        shown_after = time.monotonic() - posted
        await expect(marks).to_have_text(["4"])
        await expect(page.get_by_role("row", name=re.compile("Математика"))).to_be_visible()
        await looks_right(page, "marks")

        # The child switcher, then the sibling's week and homework.
        await (
            page.get_by_role("navigation", name="Выбор ребёнка")
            .get_by_role("link", name="Иванова Мария")
            .click()
        )
        sibling = f"{base}/children/{SCHOOL}/st-3"
        await page.wait_for_url(sibling)
        sections = page.get_by_role("navigation", name="Разделы")
        await sections.get_by_role("link", name="Расписание").click()
        await page.wait_for_url(f"{sibling}/timetable")
        await expect(page.get_by_text("Русский язык").first).to_be_visible()
        await looks_right(page, "timetable")
        await sections.get_by_role("link", name="Домашние задания").click()
        await page.wait_for_url(f"{sibling}/homework")
        await expect(page.get_by_text("Упражнение 112, выучить словарные слова")).to_be_visible()
        await looks_right(page, "homework")

        # The mark's e-mail carries a one-click unsubscribe link (RFC 8058): a mail client
        # posts to it, with no session, and mark e-mails stop; nothing else changes.
        links = await eventually(
            lambda: asyncio.to_thread(
                mails_about, mail_dir, PARENT, "Новая оценка: Математика — 4"
            ),
            timeout=60,
        )
        path = "/unsubscribe/" + links[0].strip("<>").rsplit("/unsubscribe/", 1)[1]
        await page.goto(f"{base}{path}")  # opening it only asks
        await expect(page.get_by_role("heading", level=1)).to_have_text("Отписка от писем")
        await looks_right(page, "unsubscribe")
        async with httpx.AsyncClient(base_url=base) as mail_client:
            one_click = await mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200, one_click.text

        # The settings page shows it; the parent then chooses SMS for marks.
        await page.goto(f"{base}/settings")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Настройки")
        await expect(page.get_by_label("Оценки: Эл. почта", exact=True)).not_to_be_checked()
        await expect(page.get_by_label("Пропуски уроков: Эл. почта")).to_be_checked()
        await expect(page.get_by_text("Согласие — Иванов Иван")).to_be_visible()
        await expect(page.get_by_text("i***@example.org")).to_be_visible()
        await looks_right(page, "settings")
        await page.get_by_label("Оценки: SMS", exact=True).check()
        await page.get_by_role("button", name="Сохранить настройки").click()
        await expect(page.get_by_text("Настройки уведомлений сохранены.")).to_be_visible()
        await expect(page.get_by_label("Оценки: SMS", exact=True)).to_be_checked()

        # The next mark follows the choice: an SMS, no e-mail.
        decided = await decisions_about_the_next_mark(
            consent, "st-1", lambda: post_journal(grades, a_mark("m-by-sms", "st-1", "5", today))
        )
        told = {d["channel"] for d in decided if d["recipient_id"] == "g-1" and d["notify"]}
        assert told == {"sms", "inbox"}, decided
        await eventually(lambda: asyncio.to_thread(sms_about, sms_dir, "5"), timeout=60)
        assert mails_about(mail_dir, PARENT, "Новая оценка: Математика — 5") == []

        # Revoking the consent for the first child: their next mark is not sent at all.
        await page.goto(f"{base}/settings")
        consent_card = page.get_by_role("article", name=re.compile("Иванов Иван"))
        await consent_card.get_by_label(re.compile("Я понимаю")).check()
        await consent_card.get_by_role("button", name="Отозвать согласие").click()
        await expect(page.get_by_text("Согласие отозвано.")).to_be_visible()
        await expect(page.get_by_role("article", name=re.compile("Иванов Иван"))).to_contain_text(
            "Отозвано"
        )
        await looks_right(page, "settings-revoked")
        decided = await decisions_about_the_next_mark(
            consent,
            "st-1",
            lambda: post_journal(grades, a_mark("m-after-revocation", "st-1", "3", today)),
        )
        assert not [d for d in decided if d["recipient_id"] == "g-1" and d["notify"]], decided
        await page.wait_for_timeout(2000)  # what would have been sent has had time to arrive
        assert sms_about(sms_dir, "3") == []
        assert mails_about(mail_dir, PARENT, "Новая оценка: Математика — 3") == []
        await page.goto(f"{base}/")
        await expect(page.get_by_role("main").get_by_role("link")).to_have_text(["Иванова Мария"])

        # Signing out ends the session: its cookie, put back, opens nothing.
        await page.get_by_role("button", name="Выйти").click()
        await page.wait_for_url(f"{base}/sign-in")
        await page.context.add_cookies(
            [{"name": "vestnik_session", "value": session[0]["value"], "url": base}]
        )
        await page.goto(f"{base}/")
        assert page.url == f"{base}/sign-in"

        # The used code, typed into its own challenge again, is refused.
        await request_code(page, base, PARENT)
        await page.locator("input[name=challenge]").evaluate(
            "(field, value) => { field.value = value; }", challenge
        )
        async with page.expect_response(f"{base}/sign-in/code") as reused:
            await enter_code(page, code)
        assert (await reused.value).status == 400
        await expect(page.get_by_text("больше не действует")).to_be_visible()
        await looks_right(page, "code-used")

        # A code typed after its ten minutes is refused (the account's clock moves on).
        await request_code(page, base, OTHER_PARENT)
        late = await new_code(mail_dir, OTHER_PARENT, before=0)
        clock_ahead[0] = CODE_LIFETIME + timedelta(seconds=1)
        async with page.expect_response(f"{base}/sign-in/code") as expired:
            await enter_code(page, late)
        assert (await expired.value).status == 400
        await expect(page.get_by_text("Срок действия кода истёк")).to_be_visible()
        await looks_right(page, "code-expired")

        # Another parent, signed in on the same computer, cannot open the first family's child.
        await request_code(page, base, OTHER_PARENT)
        await enter_code(page, await new_code(mail_dir, OTHER_PARENT, before=1))
        await page.wait_for_url(f"{base}/")
        await expect(page.get_by_role("main").get_by_role("link")).to_have_text(["Смирнова Ольга"])
        not_theirs = await page.goto(f"{base}/children/{SCHOOL}/st-1")
        assert not_theirs is not None and not_theirs.status == 404
        await expect(page.get_by_role("heading", level=1)).to_have_text("Страница не найдена")
        assert "Иванов Иван" not in await page.content()
        await looks_right(page, "not-found")

    print(f"mark shown {shown_after:.1f} s after it was posted; {time.monotonic() - started:.0f} s")
    assert shown_after < 15
