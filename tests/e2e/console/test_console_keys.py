"""Client keys in the console: an operator makes a key (shown once, with its webhook secret),
a client uses it, its usage shows, and revoking it in the console shuts the client out."""

from __future__ import annotations

import re

import httpx
import pytest
from photochanger_devstack.stack import Stack
from playwright.async_api import expect

from tests.e2e.client_api import submit
from tests.e2e.console.conftest import Console
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_an_operator_makes_a_key_sees_it_once_and_revokes_it(
    console: Console, stack: Stack, api: httpx.AsyncClient
) -> None:
    page = console.page
    await console.signed_in()
    await console.go("#/keys", console.t("keys.title"))

    await page.get_by_label(console.t("keys.label")).fill("Booth 7")
    await page.get_by_label(console.t("keys.slots")).fill("slot-001")
    await page.get_by_role("button", name=console.t("keys.create")).click()

    shown = page.locator("#new-key")
    await expect(shown).to_have_value(re.compile(r"^pck_"))
    token = await shown.input_value()
    assert (await page.locator("#new-secret").input_value()).startswith("whsec_")
    key = {"key": token}
    assert (await submit(api, key, "slot-001", jpeg_photo(2901))).status_code == 202
    assert (await submit(api, key, "slot-002", jpeg_photo(2902))).status_code == 403

    # shown once: a fresh visit lists the key without its token
    await console.go("#/", console.t("dashboard.title"))
    await console.go("#/keys", console.t("keys.title"))
    await expect(page.locator("#new-key")).to_have_count(0)
    row = page.locator("#keys-table tr", has_text="Booth 7")
    await expect(row).to_contain_text("slot-001")
    assert token not in await page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name=console.t("keys.revoke")).click()
    await expect(page.locator("#keys-table tr", has_text="Booth 7")).to_contain_text(
        console.t("keys.revoked_at", when="").strip()
    )
    assert (await submit(api, key, "slot-001", jpeg_photo(2903))).status_code == 401
