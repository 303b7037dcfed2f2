"""Browser tests of the operator console: a real headless Chromium (Debian's `chromium`,
installed by `make browser`) driven by Playwright, against the whole platform of the
session's `stack`. No browser is downloaded: Playwright launches the system's Chromium.

A failing test leaves a screenshot of its page in `.state/console-screenshots/failures/`."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from photochanger_devstack.stack import Stack
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

CHROMIUM = Path(os.environ.get("PHOTOCHANGER_CHROMIUM", "/usr/bin/chromium"))
# what works on a machine without a network beyond package registries (no background
# connections, no component updates, no QUIC), as root (no sandbox), without a GPU
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[3] / ".state" / "console-screenshots"
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

expect.set_options(timeout=20_000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        # launch() gives every run a fresh, temporary profile (--user-data-dir)
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


LOCALES = {"en": "en-US", "ru": "ru-RU"}


@cache
def dictionary(lang: str) -> dict[str, Any]:
    """The console's own dictionary of `lang` (what the page shows, read from the package)."""
    static = resources.files("photochanger_api.console").joinpath("static", "i18n")
    loaded: dict[str, Any] = json.loads(static.joinpath(f"{lang}.json").read_text())
    return loaded


def translate(lang: str, key: str, **params: Any) -> str:
    """What the console shows for `key` in `lang` (plural forms as Intl.PluralRules picks)."""
    value = dictionary(lang)[key]
    if isinstance(value, dict):
        value = value[_plural(lang, int(params.get("count", 0)))]
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m[1], m[0])), value)


def _plural(lang: str, n: int) -> str:
    if lang == "en":
        return "one" if n == 1 else "other"
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


@dataclass
class Console:
    """One operator at the console: a browser context of their own, in a browser whose
    language is `lang`."""

    stack: Stack
    context: BrowserContext
    page: Page
    lang: str = "en"

    def t(self, key: str, **params: Any) -> str:
        return translate(self.lang, key, **params)

    @property
    def url(self) -> str:
        return f"{self.stack.api_url}/admin/"

    async def open(self, route: str = "#/") -> None:
        await self.page.goto(self.url + route)

    async def sign_in(self, password: str | None = None) -> None:
        page = self.page
        user = page.get_by_label(self.t("login.username"))
        if not await user.is_visible():
            await self.open()
        await user.fill(self.stack.admin_username)
        await page.get_by_label(self.t("login.password"), exact=True).fill(
            password or self.stack.admin_password
        )
        await page.get_by_role("button", name=self.t("login.submit")).click()

    async def signed_in(self) -> None:
        await self.open()
        await self.sign_in()
        heading = self.page.get_by_role("heading", name=self.t("dashboard.title"), level=1)
        await expect(heading).to_be_visible()

    async def go(self, route: str, heading: str | re.Pattern[str]) -> None:
        """Navigate inside the console, as its links do (no reload)."""
        await self.page.evaluate("route => { location.hash = route }", route)
        await expect(self.page.get_by_role("heading", name=heading, level=1)).to_be_visible()

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=path, full_page=True)
        return path


async def new_console(
    browser: Browser, stack: Stack, *, width: int = 1280, lang: str = "en"
) -> Console:
    n = uuid.uuid4().int
    context = await browser.new_context(
        viewport={"width": width, "height": 900},
        locale=LOCALES[lang],  # the browser's language: the console follows it
        # an address of its own, so failed sign-ins here lock out no other test
        extra_http_headers={"X-Forwarded-For": f"198.51.{uuid.uuid4().int % 250}.{n % 250}"},
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.api_url)
    context.set_default_timeout(20_000)
    return Console(stack=stack, context=context, page=await context.new_page(), lang=lang)


@pytest.fixture
async def console(
    browser: Browser, stack: Stack, request: pytest.FixtureRequest
) -> AsyncIterator[Console]:
    made = await new_console(browser, stack)
    errors: list[str] = []
    made.page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield made
        assert not errors, f"uncaught errors in the page: {errors}"
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            await made.screenshot(f"failures/{safe}")
        await made.context.close()
