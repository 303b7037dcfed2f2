"""The operator's tasks, done in a real browser against the running platform: sign in (and
fail to), the dashboard, editing a slot with templates dropped on it, a test run of unsaved
values, rotating the ingest password, cancelling a running job, statistics and a share link.
Each test leaves the slots and settings it touched as it found them."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_api.shared_results import token_digest
from photochanger_devstack.stack import Stack
from playwright.async_api import Browser, Locator, expect

from tests.e2e.admin_session import admin_headers
from tests.e2e.console.conftest import Console, new_console
from tests.e2e.helpers import ingest, job_with_photo, sha256
from tests.support.images import jpeg_photo, png_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TEMPLATE_SLOT = "slot-012"  # no other test uses these three
CONFLICT_SLOT = "slot-006"
TEST_RUN_SLOT = "slot-005"
EDITABLE = ("name", "provider", "operation", "is_active", "settings")


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


@pytest.fixture
async def restore_slot(api: httpx.AsyncClient, admin: dict[str, str]) -> Any:
    """Puts back the slots a test edited: their name, provider and state, and their settings
    when those were complete (a seeded slot that is not configured gets a prompt)."""
    saved: dict[str, dict[str, Any]] = {}

    async def keep(slot_id: str) -> None:
        body = (await api.get(f"/api/slots/{slot_id}", headers=admin)).json()
        saved[slot_id] = {k: body[k] for k in EDITABLE}

    yield keep
    for slot_id, body in saved.items():
        etag = (await api.get(f"/api/slots/{slot_id}", headers=admin)).headers["etag"]
        restored = await api.put(
            f"/api/slots/{slot_id}", json=body, headers={**admin, "If-Match": etag}
        )
        if restored.status_code == 422:
            body = {**body, "operation": "image_edit", "settings": {"prompt": "not configured"}}
            restored = await api.put(
                f"/api/slots/{slot_id}", json=body, headers={**admin, "If-Match": etag}
            )
        assert restored.status_code == 200, restored.text


async def loaded_width(image: Locator) -> int:
    """The image's natural width once it has a source and has finished loading. (`complete`
    alone is no proof: an <img> whose source is still being fetched has none, and counts as
    complete.)"""
    handle = await image.element_handle()
    await image.page.wait_for_function("img => img.currentSrc !== '' && img.complete", arg=handle)
    return int(await image.evaluate("img => img.naturalWidth"))


async def test_a_wrong_sign_in_is_explained_and_repeated_ones_lock_out(
    console: Console, stack: Stack
) -> None:
    page = console.page
    await console.open()
    await console.sign_in(password="not-the-password")

    error = page.get_by_role("alert")
    await expect(error).to_have_text("Unknown user name or wrong password.")
    await expect(page.get_by_label("Password")).to_be_focused()
    await console.screenshot("login-error")

    guesser = f"guesser-{uuid.uuid4().hex[:6]}"
    for attempt in range(6):
        await page.get_by_label("User name").fill(guesser)
        await page.get_by_label("Password").fill(f"guess-{attempt}")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    await expect(error).to_contain_text("Too many failed sign-ins")
    await expect(error).to_contain_text(re.compile(r"locked for about \d+ minutes?"))

    await console.sign_in()  # the account itself is not locked: the guesses named another
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


async def test_dashboard_shows_every_slot_and_copies_its_ingest_url(
    console: Console, stack: Stack, api: httpx.AsyncClient
) -> None:
    assert (await ingest(api, stack, "slot-001", jpeg_photo(301))).status_code == 200
    page = console.page
    await console.open()
    # by keyboard alone: type, Tab to the password, Enter
    await page.get_by_label("User name").fill(stack.admin_username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(stack.admin_password)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    cards = page.locator(".slot-card")
    await expect(cards).to_have_count(15)
    first = page.locator('.slot-card[data-slot="slot-001"]')
    assert await loaded_width(first.get_by_role("img")) > 0
    await expect(first).to_contain_text("Active")
    await expect(first).to_contain_text("Last success")
    await expect(first.locator("dd").first).to_contain_text("%")
    await console.screenshot("dashboard-with-results")

    second = page.locator('.slot-card[data-slot="slot-002"]')
    await second.get_by_role("button", name=re.compile("Copy")).click()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{stack.api_url}/ingest/slot-002"


async def _drop_file(console: Console, selector: str, name: str, data: bytes) -> None:
    """A real drag-and-drop: a File in a DataTransfer, dragged over and dropped."""
    await console.page.locator(selector).evaluate(
        """(zone, file) => {
            const bytes = Uint8Array.from(atob(file.data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], file.name, {type: "image/png"}));
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(
                    type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        {"name": name, "data": base64.b64encode(data).decode()},
    )


async def test_a_slot_is_edited_with_a_template_dropped_on_it(
    console: Console, api: httpx.AsyncClient, admin: dict[str, str], restore_slot: Any
) -> None:
    await restore_slot(TEMPLATE_SLOT)
    page = console.page
    await console.signed_in()
    await console.go(f"#/slots/{TEMPLATE_SLOT}", re.compile(f"Slot {TEMPLATE_SLOT}"))

    await page.get_by_label("Name").fill("Watercolour booth")
    await page.get_by_label("Provider").select_option("gemini")
    await page.get_by_label("Operation").select_option("style_transfer")
    await page.get_by_label(re.compile("^Prompt")).fill("paint the photo in this style")
    await page.get_by_label("Aspect ratio").select_option("4:3")
    await expect(page.locator("#template-hint")).to_contain_text("style")
    await _drop_file(console, "#dropzone", "watercolour.png", png_photo(310))

    item = page.locator(".template-item")
    await expect(item).to_have_count(1)
    await expect(item.get_by_role("img")).to_be_visible()
    await expect(item).to_have_attribute("data-media-id", re.compile(r".+"))
    await expect(item.get_by_label("Role")).to_have_value("style")
    media_id = await item.get_attribute("data-media-id")
    await console.screenshot("slot-editor-template-dropped")
    await page.get_by_role("button", name="Save slot").click()

    await expect(page.locator("#save-status")).to_contain_text("Saved")
    saved = (await api.get(f"/api/slots/{TEMPLATE_SLOT}", headers=admin)).json()
    assert saved["name"] == "Watercolour booth"
    assert saved["operation"] == "style_transfer"
    assert saved["settings"]["template_media"] == [{"role": "style", "media_id": media_id}]
    assert saved["settings"]["image_config"] == {"aspect_ratio": "4:3"}
    preview = await api.get(f"/api/template-media/{media_id}/content", headers=admin)
    assert preview.content == png_photo(310)
    # the saved template is shown again (from the API) when the editor is opened anew
    await console.go("#/", "Dashboard")
    await console.go(f"#/slots/{TEMPLATE_SLOT}", re.compile(f"Slot {TEMPLATE_SLOT}"))
    assert await loaded_width(page.locator(".template-item img")) > 0


async def test_field_errors_and_edit_conflicts_are_shown_where_they_belong(
    console: Console, api: httpx.AsyncClient, admin: dict[str, str], restore_slot: Any
) -> None:
    await restore_slot(CONFLICT_SLOT)
    page = console.page
    await console.signed_in()
    await console.go(f"#/slots/{CONFLICT_SLOT}", re.compile(f"Slot {CONFLICT_SLOT}"))
    await page.get_by_label("Provider").select_option("turbotext")
    await page.get_by_label(re.compile("^Prompt")).fill("pencil sketch")
    await page.get_by_label("Strength").fill("99")
    await page.get_by_role("button", name="Save slot").click()

    strength = page.get_by_label("Strength")
    limit = console.t("problem.less_than_equal").replace("{le}", "80")  # "Must be at most 80."
    await expect(page.locator("#e-settings-strength")).to_have_text(limit)
    await expect(strength).to_have_attribute("aria-invalid", "true")
    await expect(strength).to_be_focused()
    await console.screenshot("slot-editor-field-error")

    # someone else saves the slot meanwhile
    current = await api.get(f"/api/slots/{CONFLICT_SLOT}", headers=admin)
    theirs = {"provider": "gemini", "operation": "image_edit", "is_active": False}
    changed = await api.put(
        f"/api/slots/{CONFLICT_SLOT}",
        json={**theirs, "name": "Renamed elsewhere", "settings": {"prompt": "theirs"}},
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200
    await strength.fill("50")
    await page.get_by_role("button", name="Save slot").click()

    conflict = page.locator("#conflict")
    await expect(conflict).to_contain_text(f"changed by {console.stack.admin_username} at")
    await console.screenshot("slot-editor-conflict")
    await conflict.get_by_role("button", name=re.compile("Reload")).click()
    await expect(page.get_by_label("Name")).to_have_value("Renamed elsewhere")


async def test_a_test_run_of_unsaved_values_shows_its_progress_and_result(
    console: Console, api: httpx.AsyncClient, admin: dict[str, str], tmp_path: Any
) -> None:
    before = (await api.get(f"/api/slots/{TEST_RUN_SLOT}", headers=admin)).json()
    assert before["is_active"] is False
    photo = tmp_path / "me.jpg"
    photo.write_bytes(jpeg_photo(320))
    page = console.page
    await console.signed_in()
    await console.go(f"#/slots/{TEST_RUN_SLOT}", re.compile(f"Slot {TEST_RUN_SLOT}"))
    unsaved_prompt = "[emulate: slow=2] unsaved: make it a comic"
    await page.get_by_label("Provider").select_option("gemini")
    await page.get_by_label(re.compile("^Prompt")).fill(unsaved_prompt)
    await page.get_by_label("Test photo").set_input_files(photo)
    await page.get_by_role("button", name="Run test with these settings").click()

    dialog = page.get_by_role("dialog", name="Test run")
    await expect(dialog).to_be_visible()
    at_provider = dialog.locator('li[data-step="at_provider"]')
    await expect(at_provider).to_have_attribute("aria-current", "step")
    await console.screenshot("test-run-progress")
    result = dialog.get_by_role("img", name="Result of the test run")
    await expect(result).to_be_visible(timeout=45_000)
    assert await loaded_width(result) > 0
    await expect(dialog.locator('li[data-step="done"]')).to_have_class(re.compile("done"))
    await console.screenshot("test-run-result")

    job_link = await dialog.get_by_role("link", name=re.compile("^Job ")).get_attribute("href")
    assert job_link is not None
    job = (await api.get(f"/api/jobs/{job_link.rsplit('/', 1)[1]}", headers=admin)).json()
    assert job["settings"]["prompt"] == unsaved_prompt
    assert job["metadata"]["unsaved"] == "true" and job["outcome"] == "succeeded"
    after = (await api.get(f"/api/slots/{TEST_RUN_SLOT}", headers=admin)).json()
    assert after["settings"] == before["settings"] and after["version"] == before["version"]
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()


async def test_rotating_the_ingest_password_refuses_the_old_one(
    console: Console, api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    new_password = f"Bo0th{uuid.uuid4().hex[:3]}"  # 8 characters, as the booths use
    page = console.page
    await console.signed_in()
    await console.go("#/settings", "Settings")
    try:
        strength = page.locator("#password-strength")
        await page.get_by_label("New ingest password").fill("abc")
        await expect(strength).to_have_text(console.t("settings.strength_short", count=8))
        await page.get_by_label("New ingest password").fill("correct-Horse-7-battery")
        await expect(strength).to_have_text(console.t("settings.strength_strong"))
        await page.get_by_label("New ingest password").fill(new_password)
        await expect(strength).to_have_text(console.t("settings.strength_fair"))
        await page.get_by_label("Repeat the new password").fill(new_password)
        await page.get_by_role("button", name="Rotate the ingest password").click()

        await expect(page.locator("main .notice")).to_contain_text("rotated")
        state = page.locator("#password-state")
        await expect(state).to_contain_text(f"Set by {stack.admin_username}")
        await expect(page.get_by_label("New ingest password")).to_have_value("")
        await console.screenshot("settings-password-rotated")
        old = await ingest(api, stack, "slot-001", jpeg_photo(330))
        assert old.status_code == 401
        new = await ingest(api, stack, "slot-001", jpeg_photo(331), password=new_password)
        assert new.status_code == 200
    finally:
        etag = (await api.get("/api/settings", headers=admin)).headers["etag"]
        back = await api.put(
            "/api/settings",
            json={"ingest_password": stack.ingest_password},
            headers={**admin, "If-Match": etag},
        )
        assert back.status_code == 200


async def test_a_running_job_is_cancelled_from_its_page(
    console: Console, api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    photo = png_photo(340, emulate="hang")
    waiting = asyncio.create_task(ingest(api, stack, "slot-001", photo, content_type="image/png"))
    try:
        job = await eventually(
            lambda: job_with_photo(db, sha256(photo)), timeout=20, what="the hanging job"
        )
        page = console.page
        await console.signed_in()
        await console.go("#/jobs", "Jobs")
        await page.get_by_label("Slot").select_option("slot-001")
        await page.get_by_label("State").select_option("processing")
        await page.get_by_role("button", name="Show jobs").click()
        row = page.locator(f'tr[data-job="{job["_id"]}"]')
        await expect(row).to_be_visible()
        await console.screenshot("jobs-filtered")
        await row.get_by_role("link", name=re.compile("Details")).click()

        await expect(page.get_by_role("heading", name=re.compile("^Job "), level=1)).to_be_visible()
        await expect(page.locator("#job-state")).to_contain_text("Processing")
        await expect(page.locator("#preview-photo img")).to_be_visible()
        await page.get_by_role("button", name="Cancel this job").click()
        await page.get_by_role("button", name="Yes, cancel the job").click()

        await expect(page.locator("#job-state")).to_contain_text("Cancelled")
        await expect(page.locator("#timeline")).to_contain_text("Cancelled")
        await console.screenshot("job-detail")
        answer = await asyncio.wait_for(waiting, timeout=20)
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "job_cancelled"
    finally:
        if not waiting.done():
            waiting.cancel()


async def test_statistics_and_a_share_link_from_the_gallery(
    console: Console, api: httpx.AsyncClient, stack: Stack, browser: Browser, db: Any
) -> None:
    done = await ingest(api, stack, "slot-001", jpeg_photo(350))
    failed = await ingest(
        api, stack, "slot-001", png_photo(351, emulate="error=400"), content_type="image/png"
    )
    assert done.status_code == 200 and failed.status_code == 502
    page = console.page
    await console.signed_in()
    await console.go("#/stats", "Statistics")
    await page.get_by_label("Window: the last").fill("2")
    await page.get_by_label("Unit").select_option("hours")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"#/stats\?minutes=120$"))

    await expect(page.locator("#sla-table tbody tr")).to_have_count(15)
    await expect(page.locator('#sla-table tr[data-slot="slot-001"]')).to_contain_text("%")
    await expect(page.locator("#stats-chart rect").first).to_be_attached()
    failure_code = failed.json()["error"]["details"]["provider_code"]
    await expect(page.locator("#failures-table")).to_contain_text(failure_code)
    await console.screenshot("statistics-2h")

    await console.go("#/gallery", "Gallery")
    item = page.locator(f'.gallery-item[data-job="{done.headers["x-job-id"]}"]')
    assert await loaded_width(item.get_by_role("img")) > 0
    async with page.expect_download() as download_info:
        await item.get_by_role("link", name=re.compile("Download")).click()
    download = await download_info.value
    saved = await download.path()
    assert saved is not None and saved.read_bytes() == done.content  # the result, whole
    await item.get_by_role("button", name=re.compile("Share link")).click()
    link = item.locator("input.share-url")
    await expect(link).to_be_visible()
    await expect(item).to_contain_text("valid until")
    await console.screenshot("gallery-share-link")
    url = await link.input_value()
    assert url.startswith(f"{stack.api_url}/public/shared/")

    guest = await new_console(browser, stack)  # someone without an account opens it
    try:
        response = await guest.page.goto(url)
        assert response is not None and response.status == 200
        assert response.headers["content-type"] == "image/png"
        assert await response.body() == done.content
    finally:
        await guest.context.close()
    token = url.rsplit("/", 1)[1]
    await db.share_links.update_one(
        {"_id": token_digest(token)},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    expired = await api.get(f"/public/shared/{token}")
    assert expired.status_code == 410
