"""The browser harness itself (tests/browser.py) on a real page from a real server: chromium
fills and submits a form, both widths are photographed, and axe-core finds what a page breaks
and nothing on one that breaks nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
import pytest
from fastapi import FastAPI, Form
from fastapi.responses import HTMLResponse
from playwright.async_api import Page, expect

from tests.browser import (
    DESKTOP,
    PHONE,
    PHONE_SCALE,
    SCREENSHOTS,
    axe_violations,
    horizontal_overflow,
    on_phone,
    screenshot,
)
from tests.services import on_a_port

TEMPLATES = jinja2.Environment(
    autoescape=True,
    loader=jinja2.DictLoader(
        {
            "base.html": """<!doctype html>
<html lang="ru">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} — Вестник</title>
  <style>
    body { font-family: "DejaVu Sans", sans-serif; margin: 0; color: #1a1a1a; }
    main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
    label, input, select, button { display: block; font-size: 1rem; margin: .25rem 0; }
    input[type=text], select { width: 100%; box-sizing: border-box; padding: .5rem; }
    .hint { color: #595959; }
    .faint { color: #c8c8c8; }
  </style>
</head>
<body><main><h1>{{ title }}</h1>{% block body %}{% endblock %}</main></body>
</html>""",
            "form.html": """{% extends "base.html" %}{% block body %}
<form method="post" action="/saved">
  {% if broken %}
    <p>Имя ученика</p>
    <input type="text" name="name">
    <p class="faint">Имя как в журнале</p>
    <table style="width: 600px"><tr><td>Слишком широкая таблица</td></tr></table>
  {% else %}
    <label for="name">Имя ученика</label>
    <input type="text" id="name" name="name" autocomplete="name">
    <p class="hint">Имя как в журнале</p>
  {% endif %}
  <label for="class">Класс</label>
  <select id="class" name="class_name"><option>5А</option><option>5Б</option></select>
  <label><input type="checkbox" name="sms" value="yes"> Получать оценки по SMS</label>
  <button type="submit">Сохранить</button>
</form>{% endblock %}""",
            "saved.html": """{% extends "base.html" %}{% block body %}
<p>{{ name }}, {{ class_name }}: {{ "SMS включены" if sms else "только e-mail" }}.</p>
{% endblock %}""",
        }
    ),
)


def site() -> tuple[FastAPI, list[str]]:
    """A form page, the same page broken on purpose, and the answer to the form; with the
    names posted, so a test sees how often the form really was submitted."""
    app = FastAPI()
    posted: list[str] = []

    def render(template: str, **values: object) -> HTMLResponse:
        # As strict about scripts as a page with sessions should be: axe must get in anyway.
        return HTMLResponse(
            TEMPLATES.get_template(template).render(**values),
            headers={"Content-Security-Policy": "script-src 'self'"},
        )

    @app.get("/form")
    async def form() -> HTMLResponse:
        return render("form.html", title="Настройки уведомлений", broken=False)

    @app.get("/broken")
    async def broken() -> HTMLResponse:
        return render("form.html", title="Настройки уведомлений", broken=True)

    @app.post("/saved")
    async def saved(
        name: str = Form(), class_name: str = Form(), sms: str | None = Form(None)
    ) -> HTMLResponse:
        posted.append(name)
        return render("saved.html", title="Сохранено", name=name, class_name=class_name, sms=sms)

    return app, posted


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, list[str]]]:
    app, posted = site()
    async with on_a_port(app) as url:
        yield url, posted


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


async def test_harness_fills_a_form_and_photographs_the_answer_at_both_widths(
    page: Page, served: tuple[str, list[str]]
) -> None:
    url, posted = served
    await page.goto(f"{url}/form")
    # By their labels: a field that has none cannot be found this way.
    await page.get_by_label("Имя ученика").fill("Анна Петрова")
    await page.get_by_label("Класс").select_option("5Б")
    await page.get_by_label("Получать оценки по SMS").check()
    await page.get_by_role("button", name="Сохранить").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Сохранено")
    await expect(page.get_by_text("Анна Петрова, 5Б: SMS включены.")).to_be_visible()
    desktop, phone = await screenshot(page, "saved")

    folder = SCREENSHOTS / "test_harness_fills_a_form_and_photographs_the_answer_at_both_widths"
    assert (desktop, phone) == (folder / "saved-desktop.png", folder / "saved-phone.png")
    assert png_size(desktop)[0] == DESKTOP["width"]
    assert png_size(phone)[0] == PHONE["width"] * PHONE_SCALE
    # The phone showed the answer to the form without posting it again.
    assert posted == ["Анна Петрова"]
    async with on_phone(page) as on_a_phone:
        await expect(on_a_phone.get_by_text("Анна Петрова, 5Б: SMS включены.")).to_be_visible()
        assert await on_a_phone.evaluate("() => window.innerWidth") == PHONE["width"]
        assert await horizontal_overflow(on_a_phone) == 0
    assert posted == ["Анна Петрова"]


async def test_harness_axe_reports_a_field_without_a_label_and_faint_text(
    page: Page, served: tuple[str, list[str]]
) -> None:
    url, _ = served
    await page.goto(f"{url}/broken")

    violations = await axe_violations(page)

    by_rule = {violation.rule: violation for violation in violations}
    assert set(by_rule) == {"label", "color-contrast"}, [str(v) for v in violations]
    assert by_rule["label"].impact == "critical"
    assert by_rule["color-contrast"].impact == "serious"
    # Each names its one element by a selector that finds it.
    (unlabelled,) = by_rule["label"].targets
    assert await page.locator(unlabelled).get_attribute("name") == "name"
    (faint,) = by_rule["color-contrast"].targets
    await expect(page.locator(faint)).to_have_text("Имя как в журнале")
    assert by_rule["label"].help_url.startswith("https://dequeuniversity.com/rules/axe/")
    # Asked for the minor ones too, axe still names the same two (and no fewer).
    every_impact = await axe_violations(page, impacts=("minor", "moderate", "serious", "critical"))
    assert {"label", "color-contrast"} <= {violation.rule for violation in every_impact}
    async with on_phone(page) as on_a_phone:
        assert await horizontal_overflow(on_a_phone) > 0


async def test_harness_axe_passes_the_fixed_page(page: Page, served: tuple[str, list[str]]) -> None:
    url, _ = served
    await page.goto(f"{url}/form")

    assert [str(v) for v in await axe_violations(page)] == []
    async with on_phone(page) as on_a_phone:
        assert [str(v) for v in await axe_violations(on_a_phone)] == []
        assert await horizontal_overflow(on_a_phone) == 0
    desktop, phone = await screenshot(page, "form")
    assert desktop.exists() and phone.exists()
