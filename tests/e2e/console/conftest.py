"""Browser tests of the operator console: a real headless Chromium (Debian's `chromium`,
installed by `make browser`) driven by Playwright, against the whole platform of the
session's `stack`. No browser is downloaded: Playwright launches the system's Chromium.

A failing test leaves a screenshot of its page in `.state/console-screenshots/failures/`."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Console:
    """One operator at the console: a browser context of their own."""

    stack: Stack
    context: BrowserContext
    page: Page

    @property
    def url(self) -> str:
        return f"{self.stack.api_url}/admin/"

    async def open(self, route: str = "#/") -> None:
        await self.page.goto(self.url + route)

    async def sign_in(self, password: str | None = None) -> None:
        page = self.page
        if not await page.get_by_label("User name").is_visible():
            await self.open()
        await page.get_by_label("User name").fill(self.stack.admin_username)
        await page.get_by_label("Password").fill(password or self.stack.admin_password)
        await page.get_by_role("button", name="Sign in").click()

    async def signed_in(self) -> None:
        await self.open()
        await self.sign_in()
        await expect(self.page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    async def go(self, route: str, heading: str | re.Pattern[str]) -> None:
        """Navigate inside the console (no reload: the token lives in the page's memory)."""
        await self.page.evaluate("route => { location.hash = route }", route)
        await expect(self.page.get_by_role("heading", name=heading, level=1)).to_be_visible()

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=path, full_page=True)
        return path


async def new_console(browser: Browser, stack: Stack, *, width: int = 1280) -> Console:
    n = uuid.uuid4().int
    context = await browser.new_context(
        viewport={"width": width, "height": 900},
        # an address of its own, so failed sign-ins here lock out no other test
        extra_http_headers={"X-Forwarded-For": f"198.51.{uuid.uuid4().int % 250}.{n % 250}"},
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.api_url)
    context.set_default_timeout(20_000)
    return Console(stack=stack, context=context, page=await context.new_page())


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
