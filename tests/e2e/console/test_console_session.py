"""The operator stays signed in across reloads and new tabs (the session cookie), until they
sign out or leave the console idle past its timeout."""

from __future__ import annotations

import pytest
from photochanger_devstack.stack import Stack
from playwright.async_api import Browser, expect

from tests.e2e.console.conftest import Console, new_console

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_a_new_tab_of_the_same_browser_is_signed_in_too(console: Console) -> None:
    await console.signed_in()

    tab = await console.context.new_page()
    await tab.goto(console.url + "#/settings")

    await expect(tab.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    token_in_storage = await tab.evaluate(
        "() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie"
    )
    assert "photochanger_session" not in token_in_storage  # HttpOnly: no script reads it
    assert "eyJ" not in token_in_storage  # and no bearer token is stored anywhere


async def test_signing_out_ends_the_session_for_every_reload(console: Console) -> None:
    page = console.page
    await console.signed_in()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("main .notice")).to_have_text("You are signed out.")
    await page.reload()

    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)


async def test_the_console_signs_out_after_its_idle_timeout(browser: Browser, stack: Stack) -> None:
    console = await new_console(browser, stack)
    page = console.page
    try:
        await page.clock.install()  # the page's clock, moved on below instead of waiting
        await console.signed_in()
        await page.clock.fast_forward("10:00")  # ten minutes without input: still signed in
        await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

        await page.clock.fast_forward("25:00")  # 35 minutes: past the 30-minute timeout

        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await expect(page.locator(".notice")).to_have_text(console.t("login.idle"))
        await page.reload()  # and the session is gone on the server too
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    finally:
        await console.context.close()
