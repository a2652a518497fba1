"""A child's PDF extract from the personal account, in a real browser on the real stack (issue
14, item 2): a family signed in with the school's activation code opens "Выписка", chooses the
days and downloads the digest's PDF: the child's name and the mark of those days are in it, a
mark of another day is not. A date range the wrong way round is refused, naming the field;
another family cannot have the first family's child's extract by URL (404); a child the digest
knows nothing of has no extract yet (404); with the digest away the page says to try later
(503). Every page is photographed at a desktop and a phone width and must have no serious or
critical axe-core violation.
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from tests.browser import looks_right
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually
from tests.school import a_mark, load_guardian, post_journal
from tests.school_term import MOSCOW, SCHOOL, put_all, reference
from tests.school_week import pdf_pages
from tests.servers import Servers
from tests.services import running, serving

DAY = timedelta(days=1)


def iso_week(day: date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


async def sign_in_with_activation_code(page: Page, base: str, code: str, child: str) -> None:
    """Sign in with the code the school printed; once the account has heard of the family's
    consent, their child is on the home page."""
    await page.goto(f"{base}/activate")
    await page.get_by_label("Код активации из школы").fill(code)
    await page.get_by_role("button", name="Войти").click()
    await page.wait_for_url(f"{base}/")
    listed = page.get_by_role("main").get_by_role("link", name=child)

    async def shown() -> bool:
        if await listed.count():
            return True
        await page.reload()
        return False

    await eventually(shown, timeout=60, interval=0.5)


async def test_a_family_downloads_a_child_s_extract_for_the_days_it_chooses(
    page: Page, servers: Servers, service_env: dict[str, object], run_id: str, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        # The digest on a real port, in a stack of its own: the test stops it at the end.
        digest_stack = await stack.enter_async_context(AsyncExitStack())
        digest_url = await digest_stack.enter_async_context(
            serving("digest", run_id, scheduler=False, **service_env)
        )
        base = await stack.enter_async_context(
            serving("account", run_id, secure_cookies=False, digest_url=digest_url, **service_env)
        )
        account = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
        digest = await stack.enter_async_context(httpx.AsyncClient(base_url=digest_url, timeout=30))

        today = datetime.now(MOSCOW).date()
        first, inside, outside = today - 3 * DAY, today - DAY, today - 10 * DAY
        await put_all(grades, reference(today))
        await load_guardian(consent, "g-1", "Иванова Елена", "st-1")
        # st-9: a child the school registered a consent for, of whom the journal says nothing.
        await load_guardian(consent, "g-2", "Смирнов Олег", ("st-2", "st-9"))
        posted = await post_journal(
            grades,
            a_mark("m-inside", value="5", lesson_date=inside.isoformat()),
            a_mark("m-outside", value="2", lesson_date=outside.isoformat()),
        )
        assert posted.status_code == 200, posted.text

        # The digest has both marks and knows g-1 as st-1's guardian (read from its JSON, which
        # is cheap to poll; a PDF is not).
        student = f"/v1/schools/{SCHOOL}/students/st-1"

        async def digest_ready() -> bool:
            linked = await digest.get(
                f"{student}/week",
                params={"week": iso_week(today)},
                headers=bearer("parent", person_id="g-1"),
            )
            if linked.status_code != 200:
                return False
            seen = set()
            for day in (inside, outside):
                week = await digest.get(f"{student}/weeks/{iso_week(day)}", headers=AUTH)
                if week.status_code != 200:
                    return False
                subjects = week.json()["subjects"]
                seen |= {(m["value"], m["lesson_date"]) for s in subjects for m in s["marks"]}
            return {("5", inside.isoformat()), ("2", outside.isoformat())} <= seen

        await eventually(digest_ready, timeout=90, interval=0.5)

        codes = {}
        for recipient in ("g-1", "g-2"):
            issued = await account.post(
                f"/v1/schools/{SCHOOL}/recipients/{recipient}/activation-codes", headers=AUTH
            )
            assert issued.status_code == 201, issued.text
            codes[recipient] = issued.json()["code"]

        # The first family: the child's "Выписка", offering the school year so far.
        await sign_in_with_activation_code(page, base, codes["g-1"], "Иванов Иван")
        await page.get_by_role("main").get_by_role("link", name="Иванов Иван").click()
        sections = page.get_by_role("navigation", name="Разделы")
        await sections.get_by_role("link", name="Выписка").click()
        extract_url = f"{base}/children/{SCHOOL}/st-1/extract"
        await page.wait_for_url(extract_url)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Выписка")
        start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
        await expect(page.get_by_label("С", exact=True)).to_have_value(start.isoformat())
        await expect(page.get_by_label("По", exact=True)).to_have_value(today.isoformat())
        await looks_right(page, "extract")

        # Three days: the mark of two days ago is in the PDF, the one of ten days ago is not.
        await page.get_by_label("С", exact=True).fill(first.isoformat())
        await page.get_by_label("По", exact=True).fill(today.isoformat())
        async with page.expect_download() as downloading:
            await page.get_by_role("button", name="Скачать выписку (PDF)").click()
        download = await downloading.value
        assert download.suggested_filename == f"extract-st-1-{first}-{today}.pdf"
        pdf = Path(await download.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        [text] = pdf_pages(pdf, tmp_path)
        assert "Выписка из электронного журнала" in text
        assert "Иванов Иван, класс 5А" in text
        assert f"Математика 5 {inside:%d.%m}" in text, text
        assert f"{outside:%d.%m}" not in text, text
        assert page.url == extract_url  # the form stays where it was

        # The wrong way round: the form again, saying so next to the field «По».
        await page.get_by_label("С", exact=True).fill(today.isoformat())
        await page.get_by_label("По", exact=True).fill(first.isoformat())
        async with page.expect_response(re.compile(r"/extract\?")) as answered:
            await page.get_by_role("button", name="Скачать выписку (PDF)").click()
        assert (await answered.value).status == 422
        error = page.locator("#extract-to-error")
        await expect(error).to_have_text("Дата в поле «По» не может быть раньше даты в поле «С».")
        await expect(page.get_by_label("По", exact=True)).to_have_attribute("aria-invalid", "true")
        await looks_right(page, "extract-wrong-range")
        await page.get_by_role("button", name="Выйти").click()
        await page.wait_for_url(f"{base}/sign-in")

        # Another family: not the first family's child, even with the dates in the URL.
        await sign_in_with_activation_code(page, base, codes["g-2"], "Смирнова Ольга")
        query = f"?from={first}&to={today}"
        not_theirs = await page.goto(f"{extract_url}{query}")
        assert not_theirs is not None and not_theirs.status == 404
        await expect(page.get_by_role("heading", level=1)).to_have_text("Страница не найдена")
        assert "Иванов Иван" not in await page.content()

        # Their child the digest knows nothing of yet: nothing to extract.
        nothing = await page.goto(f"{base}/children/{SCHOOL}/st-9/extract{query}")
        assert nothing is not None and nothing.status == 404
        await expect(page.get_by_role("alert")).to_have_text(
            re.compile("^Данных для выписки пока нет")
        )
        await looks_right(page, "extract-no-data")

        # The digest away: try later.
        await digest_stack.aclose()
        away = await page.goto(f"{base}/children/{SCHOOL}/st-2/extract{query}")
        assert away is not None and away.status == 503
        await expect(page.get_by_role("alert")).to_have_text(
            "Выписка сейчас недоступна. Попробуйте через несколько минут."
        )
        await looks_right(page, "extract-unavailable")
