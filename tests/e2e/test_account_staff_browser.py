"""The school's side of the personal account in a real browser (issue 14): a member of staff
signs in with the key ops gave them, prints an activation code for a family without e-mail,
the family activates it in another browser, and the staff page lists that sign-in. A parent's
key opens nothing here. Every page axe-clean at both widths, photographed."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from services.shared.auth import issue_token
from tests.browser import looks_right
from tests.conftest import TEST_SECRET
from tests.school import SCHOOL
from tests.servers import Servers
from tests.services import serving


async def test_staff_print_an_activation_code_and_see_the_family_sign_in(
    page: Page,
    browser: Browser,
    servers: Servers,
    service_env: dict[str, object],
    run_id: str,
) -> None:
    staff_key = issue_token(TEST_SECRET, role="staff", school_id=SCHOOL, audience=("account",))
    parent_key = issue_token(
        TEST_SECRET, role="parent", school_id=SCHOOL, person_id="g-7", audience=("account",)
    )
    async with serving("account", run_id, None, secure_cookies=False, **service_env) as base:
        await page.goto(f"{base}/staff")
        await page.wait_for_url(f"{base}/staff/sign-in")
        await looks_right(page, "staff-sign-in")
        await page.get_by_label("Ключ доступа").fill(parent_key)
        await page.get_by_role("button", name="Войти").click()
        await expect(page.get_by_text("Ключ не подходит")).to_be_visible()

        await page.get_by_label("Ключ доступа").fill(staff_key)
        await page.get_by_role("button", name="Войти").click()
        await page.wait_for_url(f"{base}/staff")
        await expect(page.get_by_text("пока никто не входил")).to_be_visible()
        await looks_right(page, "staff-home")
        await page.get_by_label("Идентификатор родителя или ученика").fill("g-7")
        await page.get_by_role("button", name="Выдать код").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Код активации личного кабинета"
        )
        code = await page.locator(".activation-code").inner_text()
        await looks_right(page, "staff-code")

        family = await browser.new_context(locale="ru-RU")
        try:
            their_page = await family.new_page()
            await their_page.goto(f"{base}/activate")
            await their_page.get_by_label("Код активации").fill(code.lower())
            await their_page.get_by_role("button", name="Войти").click()
            await their_page.wait_for_url(f"{base}/")
        finally:
            await family.close()

        await page.goto(f"{base}/staff")
        await expect(page.get_by_role("row", name="g-7")).to_contain_text("код активации")
        await looks_right(page, "staff-sign-ins")
        await page.get_by_role("button", name="Выйти").click()
        await page.wait_for_url(f"{base}/staff/sign-in")
        await page.goto(f"{base}/staff")
        assert page.url == f"{base}/staff/sign-in"
