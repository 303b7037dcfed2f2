"""Every page on a tablet (768 px) and a laptop: nothing wider than the screen, every control
labelled, focus visible when moving by keyboard. Saves a screenshot of each page in
`.state/console-screenshots/` (what a reviewer looks at)."""

from __future__ import annotations

import re

import httpx
import pytest
from photochanger_devstack.stack import Stack
from playwright.async_api import Browser, expect

from tests.e2e.console.conftest import new_console
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PAGES = [
    ("dashboard", "#/", "Dashboard"),
    ("slot-editor", "#/slots/slot-001", re.compile("^Slot slot-001")),
    ("settings", "#/settings", "Settings"),
    ("jobs", "#/jobs", "Jobs"),
    ("statistics", "#/stats?minutes=1440", "Statistics"),
    ("gallery", "#/gallery", "Gallery"),
]

UNLABELLED = """() => [...document.querySelectorAll("main :is(input, select, textarea, button)")]
    .filter(el => el.offsetParent !== null || el.classList.contains("file-input"))
    .filter(el => {
        if (el.tagName === "BUTTON")
            return !(el.textContent.trim() || el.getAttribute("aria-label"));
        return !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
            && !el.getAttribute("aria-labelledby");
    })
    .map(el => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("width", [768, 1280])
async def test_every_page_fits_the_screen_and_labels_its_controls(
    browser: Browser, stack: Stack, api: httpx.AsyncClient, width: int
) -> None:
    assert (await ingest(api, stack, "slot-001", jpeg_photo(360))).status_code == 200
    console = await new_console(browser, stack, width=width)
    page = console.page
    try:
        await console.open()
        await console.screenshot(f"login-{width}")  # and each page below, at this width
        await console.signed_in()
        for name, route, heading in PAGES:
            await console.go(route, heading)
            await expect(page.locator(".loading")).to_have_count(0)
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"
            assert await page.evaluate(UNLABELLED) == [], name
            await console.screenshot(f"{name}-{width}")

        # keyboard: the first Tab from the page's heading reaches a control with a visible ring
        await console.go("#/settings", "Settings")
        await page.keyboard.press("Tab")
        ring = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert ring not in ("none", ""), ring
    finally:
        await console.context.close()
