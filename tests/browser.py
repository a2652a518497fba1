"""Browser tests: Playwright driving Debian's chromium, pages photographed at a desktop and a
phone width, and axe-core's accessibility rules run inside the page.

Registered as a plugin by tests/conftest.py, so any test can ask for `page` (a fresh desktop
browser tab; the session shares one chromium). `make install` installs chromium (apt-get) and
axe-core (npm, into .cache/node/); Playwright's own browser download is not reachable here.
"""

from __future__ import annotations

import re
import shutil
import weakref
from collections.abc import AsyncIterator, Generator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")
AXE_JS = ROOT / ".cache" / "node" / "node_modules" / "axe-core" / "axe.min.js"
# Stable, so CI and a developer find the last run's pictures; `make screenshots` copies them to
# docs/screenshots/, which the README links.
SCREENSHOTS = ROOT / "var" / "screenshots"

DESKTOP = ViewportSize(width=1280, height=800)
# An iPhone 12-15's CSS viewport: the narrowest common phone the pages must fit.
PHONE = ViewportSize(width=390, height=844)
PHONE_SCALE = 3
# Users see Russian pages; the browser asks for them as a Russian family's would.
LOCALE = "ru-RU"
# A page that needs longer than this on the local server is a failure worth seeing quickly.
TIMEOUT_MS = 10_000

# The folder each test's pages write their screenshots to, by page (phone copies included).
_folders: weakref.WeakKeyDictionary[Page, Path] = weakref.WeakKeyDictionary()
# Those of this session's tests, for the summary at its end.
_this_session: set[Path] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives chromium (given to any test using `page`)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # So `pytest -m browser` (and `make screenshots`) picks exactly the tests that open pages.
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # The `page` fixture's teardown photographs a page whose test failed.
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if count := sum(len(list(folder.glob("*.png"))) for folder in _this_session):
        terminalreporter.write_line(f"browser screenshots: {count} PNGs in {SCREENSHOTS}/")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless chromium for the session (Debian's, at /usr/bin/chromium)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Chromium's sandbox refuses to start as root, which CI is (--no-sandbox).
            chromium_sandbox=False,
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh tab in a context of its own (no cookies from other tests), 1280x800, Russian."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    # A test's pictures are its last run's only.
    shutil.rmtree(folder, ignore_errors=True)
    context = await browser.new_context(viewport=DESKTOP, locale=LOCALE)
    context.set_default_timeout(TIMEOUT_MS)
    opened = await context.new_page()
    _folders[opened] = folder
    _this_session.add(folder)
    yield opened
    if request.node.stash.get(_FAILED, False) and not opened.is_closed():
        folder.mkdir(parents=True, exist_ok=True)
        await opened.screenshot(path=folder / "failed-desktop.png", full_page=True)
    await context.close()


@asynccontextmanager
async def on_phone(page: Page) -> AsyncIterator[Page]:
    """The document `page` shows, rendered again in a phone's browser (390 CSS px wide, touch,
    device scale 3) with the same cookies: the same URL answered with the same HTML, so the
    answer to a form, or a page that changed something when it was opened, looks as it did.
    Stylesheets, images and scripts load from the server again (and scripts run again)."""
    html = await page.content()
    url = page.url
    browser = page.context.browser
    assert browser is not None, "a page of a persistent context"
    context = await browser.new_context(
        viewport=PHONE,
        screen=PHONE,
        device_scale_factor=PHONE_SCALE,
        is_mobile=True,
        has_touch=True,
        locale=LOCALE,
        storage_state=await page.context.storage_state(),
    )
    context.set_default_timeout(TIMEOUT_MS)
    phone = await context.new_page()
    _folders[phone] = _folders.get(page, SCREENSHOTS / "unnamed")
    try:
        if url.startswith(("http://", "https://")):

            async def same_html(route: Any) -> None:
                await route.fulfill(content_type="text/html; charset=utf-8", body=html)

            # A request's URL has no #fragment; the page's may.
            document = url.partition("#")[0]
            await phone.route(lambda requested: requested == document, same_html, times=1)
            await phone.goto(url)
        else:
            await phone.set_content(html)
        yield phone
    finally:
        await context.close()


async def screenshot(page: Page, name: str) -> tuple[Path, Path]:
    """Photograph the whole of `page` at the desktop width and again on a phone:
    var/screenshots/<test>/<name>-desktop.png (1280 px wide) and <name>-phone.png (390 CSS px,
    1170 px). Returns both paths."""
    folder = _folders.get(page, SCREENSHOTS / "unnamed")
    folder.mkdir(parents=True, exist_ok=True)
    desktop = folder / f"{name}-desktop.png"
    phone_png = folder / f"{name}-phone.png"
    await page.screenshot(path=desktop, full_page=True, animations="disabled")
    async with on_phone(page) as phone:
        await phone.screenshot(path=phone_png, full_page=True, animations="disabled")
    return desktop, phone_png


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: nothing to scroll sideways),
    the usual sign of a layout that does not fit a phone."""
    # The layout viewport's width (clientWidth): a phone zooms out to show a page too wide for
    # it, which widens window.innerWidth with the page.
    overflow: int = await page.evaluate(
        """() => Math.max(
            0, document.documentElement.scrollWidth - document.documentElement.clientWidth)"""
    )
    return overflow


@dataclass(frozen=True)
class Violation:
    """One axe-core rule a page breaks, and where."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets)}"


async def axe_violations(
    page: Page, impacts: Iterable[str] = ("serious", "critical")
) -> list[Violation]:
    """axe-core's violations of WCAG 2.x A/AA and best-practice rules on the page as it is now,
    those of the given impacts only (axe's are minor, moderate, serious, critical). Assert
    `== []`: each violation prints as rule, impact, help and the CSS selectors of its nodes."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: `make install` installs axe-core from npm")
    # Evaluated through the DevTools protocol rather than a <script> tag, so a page's
    # Content-Security-Policy (no inline scripts) does not keep axe out.
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const results = await window.axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map((v) => ({
                rule: v.id, impact: v.impact || "", help: v.help, help_url: v.helpUrl,
                targets: v.nodes.map((n) => n.target.join(" ")),
            }));
        }"""
    )
    wanted = set(impacts)
    return [
        Violation(
            rule=v["rule"],
            impact=v["impact"],
            help=v["help"],
            help_url=v["help_url"],
            targets=tuple(v["targets"]),
        )
        for v in found
        if v["impact"] in wanted
    ]


async def looks_right(page: Page, name: str) -> None:
    """Photographed at both widths; no serious or critical axe violation at either; nothing
    wider than a phone."""
    await screenshot(page, name)
    assert [str(v) for v in await axe_violations(page)] == [], name
    async with on_phone(page) as phone:
        assert [str(v) for v in await axe_violations(phone)] == [], f"{name} on a phone"
        assert await horizontal_overflow(phone) == 0, f"{name} on a phone"
