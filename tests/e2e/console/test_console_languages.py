"""The console in Russian and in English: every page follows the browser's language (and
survives a reload, still signed in), the operator's own choice sticks across reloads and tabs,
and errors are said in that language."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack
from playwright.async_api import Browser, expect

from tests.e2e.console.conftest import Console, dictionary, new_console
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

LEFTOVERS = """() => {
    const main = document.querySelector("main").cloneNode(true);
    // what comes from data or the API as it is: codes, ids, user-entered values
    main.querySelectorAll("code, input, textarea, select, .slot-id, .template-name")
        .forEach(e => e.remove());
    return main.innerText;
}"""


def pages(job_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(route, the key of its h1, the key's parameters) for every page of the console."""
    return [
        ("#/", "dashboard.title", {}),
        ("#/slots/slot-001", "slot.title", {"id": "slot-001"}),
        ("#/jobs", "jobs.title", {}),
        (f"#/jobs/{job_id}", "job.title", {"id": job_id[:8]}),
        ("#/stats?minutes=1440", "stats.title", {}),
        ("#/gallery", "gallery.title", {}),
        ("#/settings", "settings.title", {}),
        ("#/keys", "keys.title", {}),
        ("#/help", "help.title", {}),
    ]


def english_only_phrases() -> list[str]:
    """English texts of the dictionary long enough to be unmistakable, without placeholders:
    none of them may show on a Russian page."""
    en, ru = dictionary("en"), dictionary("ru")
    return [
        text
        for key, text in en.items()
        if isinstance(text, str) and "{" not in text and len(text) >= 10 and text != ru[key]
    ]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_every_page_speaks_the_language_of_the_browser(
    browser: Browser, stack: Stack, api: httpx.AsyncClient, lang: str
) -> None:
    answer = await ingest(api, stack, "slot-001", jpeg_photo(410))
    assert answer.status_code == 200
    job_id = answer.headers["x-job-id"]
    console = await new_console(browser, stack, lang=lang)
    page = console.page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await console.open()
        await expect(page.get_by_role("button", name=console.t("login.submit"))).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == lang
        await console.signed_in()
        await expect(page.locator("#who")).to_have_text(
            console.t("shell.signed_in_as", name=stack.admin_username)
        )
        keys = set(dictionary("en"))
        for route, key, params in pages(job_id):
            heading = console.t(key, **params).split("{")[0]  # up to the name of a slot
            await console.go(route, re.compile("^" + re.escape(heading)))
            await expect(page.locator(".loading")).to_have_count(0)
            nav = page.get_by_role("navigation")
            await expect(nav.get_by_role("link", name=console.t("nav.jobs"))).to_be_visible()
            text = await page.evaluate(LEFTOVERS)
            leaked = [k for k in keys if k in text]
            assert leaked == [], f"{route} shows dictionary keys: {leaked}"
            if lang == "ru":
                english = [p for p in english_only_phrases() if p in text]
                assert english == [], f"{route} shows English: {english}"
                assert re.search("[\u0400-\u04ff]{4}", text), route
            name = route.strip("#/").split("?")[0].replace("/", "-") or "dashboard"
            await console.screenshot(f"language-{lang}-{name}")
            # a reload keeps the operator signed in, on the same page, in the same language
            await page.reload()
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                re.compile("^" + re.escape(heading))
            )
            await expect(nav.get_by_role("link", name=console.t("nav.jobs"))).to_be_visible()
        assert errors == []
    finally:
        await console.context.close()


async def test_the_language_chosen_sticks_over_the_browsers(browser: Browser, stack: Stack) -> None:
    console = await new_console(browser, stack, lang="en")
    page = console.page
    try:
        await console.signed_in()
        await page.get_by_label("Language").select_option("ru")
        ru = Console(stack=stack, context=console.context, page=page, lang="ru")
        await expect(
            page.get_by_role("heading", name=ru.t("dashboard.title"), level=1)
        ).to_be_visible()
        await expect(page.get_by_role("link", name=ru.t("nav.settings"))).to_be_visible()
        assert await page.evaluate("document.documentElement.lang") == "ru"

        # a new tab of the same browser opens in Russian too (and signed in)
        tab = await console.context.new_page()
        await tab.goto(console.url)
        await expect(
            tab.get_by_role("heading", name=ru.t("dashboard.title"), level=1)
        ).to_be_visible()
        await expect(tab.get_by_label(ru.t("shell.language"))).to_have_value("ru")

        # and back to English, which a reload keeps
        await tab.get_by_label(ru.t("shell.language")).select_option("en")
        await expect(
            tab.get_by_role("heading", name=console.t("dashboard.title"), level=1)
        ).to_be_visible()
        await tab.reload()
        await expect(tab.get_by_role("link", name=console.t("nav.settings"))).to_be_visible()
    finally:
        await console.context.close()


async def test_errors_are_explained_in_russian(browser: Browser, stack: Stack) -> None:
    console = await new_console(browser, stack, lang="ru")
    page = console.page
    try:
        await console.open()
        await console.sign_in(password="not-the-password")
        await expect(page.get_by_role("alert")).to_have_text(console.t("login.wrong"))

        await console.sign_in()
        title = console.t("slot.title", id="slot-007").split("{")[0]
        await console.go("#/slots/slot-007", re.compile("^" + re.escape(title)))
        await page.get_by_label(console.t("common.provider")).select_option("turbotext")
        await page.get_by_label(re.compile("^" + console.t("label.prompt"))).fill("набросок")
        await page.get_by_label(console.t("label.strength")).fill("99")
        await page.get_by_role("button", name=console.t("slot.save")).click()  # refused
        await expect(page.locator("#e-settings-strength")).to_have_text(
            console.t("problem.less_than_equal").replace("{le}", "80")
        )
        await expect(page.locator("#form-problems")).to_contain_text(
            console.t("problems.summary", count=1)
        )
        await console.screenshot("language-ru-field-error")

        await console.go("#/stats", console.t("stats.title"))
        await page.get_by_label(console.t("stats.window_last")).fill("0")
        await page.get_by_role("button", name=console.t("stats.show"), exact=True).click()
        await expect(page.locator("#window-error")).to_have_text(console.t("stats.window_invalid"))
    finally:
        await console.context.close()
