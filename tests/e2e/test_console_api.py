"""What the console needs from the api, through HTTP on the running platform: the console's
files (offline, with a strict CSP), test runs of unsaved values, the one-call statistics
overview, image previews and share links that expire."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_api.shared_results import token_digest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import final_record, ingest
from tests.support.images import jpeg_photo, png_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

UNSAVED_SLOT = "slot-004"  # seeded inactive and unconfigured; no other test uses it


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


async def test_the_console_is_served_offline_with_a_strict_policy(api: httpx.AsyncClient) -> None:
    page = await api.get("/admin/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "https://" not in page.text and "http://" not in page.text  # nothing from elsewhere
    for asset in ("app.js", "api.js", "console.css", "pages/slot.js"):
        served = await api.get(f"/admin/assets/{asset}")
        assert served.status_code == 200, asset
        assert "//cdn" not in served.text and "https://" not in served.text
    assert (await api.get("/admin")).headers["location"] == "/admin/"
    for probe in ("../app.py", "..%2Fapp.py", "pages/../../settings.py", "nope.js"):
        assert (await api.get(f"/admin/assets/{probe}")).status_code == 404, probe
    assert (await api.get("/openapi.json")).status_code == 200


async def _test_run(
    api: httpx.AsyncClient, admin: dict[str, str], photo: bytes, slot: dict[str, Any] | None
) -> httpx.Response:
    data = {"slot": json.dumps(slot)} if slot is not None else {}
    return await api.post(
        f"/api/slots/{UNSAVED_SLOT}/test-runs",
        data=data,
        files={"file": ("me.jpg", photo, "image/jpeg")},
        headers=admin,
    )


async def test_a_test_run_uses_the_unsaved_values_and_reports_each_stage(
    api: httpx.AsyncClient, admin: dict[str, str], db: Any
) -> None:
    saved = (await api.get(f"/api/slots/{UNSAVED_SLOT}", headers=admin)).json()
    unsaved = {
        "name": "Not saved",
        "provider": "turbotext",
        "operation": "image_edit",
        "is_active": False,
        "settings": {"prompt": "[emulate: slow=1] unsaved", "strength": 25},
    }

    started = await _test_run(api, admin, jpeg_photo(400), unsaved)

    assert started.status_code == 202, started.text
    run = started.json()
    assert run["stage"] in ("queued", "at_provider") and run["result_url"] is None
    stages = {run["stage"]}

    async def done() -> dict[str, Any] | None:
        view = (
            await api.get(f"/api/slots/{UNSAVED_SLOT}/test-runs/{run['job_id']}", headers=admin)
        ).json()
        stages.add(view["stage"])
        return view if view["stage"] == "done" else None

    final = await eventually(done, timeout=40, what="the test run to finish")
    assert "at_provider" in stages
    assert final["outcome"] == "succeeded" and final["result_url"]
    image = await api.get(final["result_url"], headers=admin)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    job = await final_record(db, run["job_id"])
    assert job["provider"] == "turbotext"
    assert job["settings"] == {"prompt": "[emulate: slow=1] unsaved", "strength": 25}
    assert job["metadata"]["unsaved"] == "true" and job["metadata"]["test_run"] == "true"
    after = (await api.get(f"/api/slots/{UNSAVED_SLOT}", headers=admin)).json()
    assert after == {**saved, "recent_results": after["recent_results"]}  # nothing saved


async def test_a_test_run_refuses_invalid_unsaved_values_with_their_fields(
    api: httpx.AsyncClient, admin: dict[str, str], db: Any
) -> None:
    before = await db.jobs_live.count_documents({}) + await db.jobs.count_documents({})
    bad = {
        "name": "x",
        "provider": "turbotext",
        "operation": "image_edit",
        "is_active": True,
        "settings": {"prompt": "x", "strength": 99},
    }
    out_of_range = await _test_run(api, admin, jpeg_photo(401), bad)
    no_name = await _test_run(api, admin, jpeg_photo(402), {**bad, "name": ""})
    not_json = await api.post(
        f"/api/slots/{UNSAVED_SLOT}/test-runs",
        data={"slot": "{not json"},
        files={"file": ("me.jpg", jpeg_photo(403), "image/jpeg")},
        headers=admin,
    )
    not_a_photo = await _test_run(api, admin, b"plain text", {**bad, "settings": {"prompt": "x"}})

    assert out_of_range.status_code == 422
    assert [p["field"] for p in out_of_range.json()["error"]["details"]["problems"]] == [
        "settings.strength"
    ]
    assert no_name.status_code == 422
    assert [p["field"] for p in no_name.json()["error"]["details"]["problems"]] == ["slot.name"]
    assert not_json.status_code == 422
    assert not_a_photo.status_code == 415
    after = await db.jobs_live.count_documents({}) + await db.jobs.count_documents({})
    assert after == before  # nothing was created


async def test_a_test_run_of_another_job_is_unknown(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    booth = await ingest(api, stack, "slot-001", jpeg_photo(404))
    job_id = booth.headers["x-job-id"]

    for path in (f"/api/slots/slot-001/test-runs/{job_id}", "/api/slots/slot-001/test-runs/nope"):
        response = await api.get(path, headers=admin)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "job_not_found"


async def test_the_overview_counts_every_slot_in_any_window(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    ok = await ingest(api, stack, "slot-002", jpeg_photo(410))
    bad = await ingest(
        api, stack, "slot-002", png_photo(411, emulate="error=400"), content_type="image/png"
    )
    assert ok.status_code == 200 and bad.status_code == 502

    response = await api.get("/api/stats/overview?minutes=10&buckets=10", headers=admin)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["minutes"] == 10 and body["bucket_seconds"] == 60 and len(body["series"]) == 10
    slots = {s["slot_id"]: s for s in body["slots"]}
    assert list(slots) == [f"slot-{n:03d}" for n in range(1, 16)]
    turbotext = slots["slot-002"]
    assert turbotext["by_outcome"]["succeeded"] >= 1
    assert turbotext["by_outcome"]["provider_error"] >= 1
    assert turbotext["last_success"]["job_id"] == ok.headers["x-job-id"]
    bad_id = bad.json()["error"]["details"]["job_id"]
    assert turbotext["last_error"]["job_id"] == bad_id
    assert turbotext["last_error"]["error_code"] == bad.json()["error"]["details"]["provider_code"]
    assert bad_id in [f["job_id"] for f in body["recent_failures"]]
    assert len(body["recent_failures"]) <= 20
    series_total = sum(sum(p["by_outcome"].values()) for p in body["series"])
    assert series_total == body["totals"]["finalized"]
    for minutes in (0, 43_201):
        wrong = await api.get(f"/api/stats/overview?minutes={minutes}", headers=admin)
        assert wrong.status_code == 422, minutes
    widest = await api.get("/api/stats/overview?minutes=43200", headers=admin)
    assert widest.status_code == 200 and widest.json()["bucket_seconds"] == 30 * 3600


async def test_previews_show_templates_and_job_images_while_they_exist(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    template = png_photo(420)
    registered = await api.post(
        "/api/template-media/register",
        files={"file": ("t.png", template, "image/png")},
        headers=admin,
    )
    media_id = registered.json()["id"]
    shown = await api.get(f"/api/template-media/{media_id}/content", headers=admin)
    assert shown.status_code == 200 and shown.content == template
    assert shown.headers["cache-control"] == "private, no-store"
    assert (await api.get("/api/template-media/nope/content", headers=admin)).status_code == 404

    photo = png_photo(421, emulate="slow=2")
    waiting = asyncio.create_task(ingest(api, stack, "slot-001", photo, content_type="image/png"))
    job_id = await _live_job_with(api, admin, "slot-001")
    while_running = await api.get(f"/api/jobs/{job_id}/images/photo", headers=admin)
    answer = await waiting
    assert answer.status_code == 200
    assert while_running.status_code == 200 and while_running.content == photo
    gone = await api.get(f"/api/jobs/{job_id}/images/photo", headers=admin)
    assert gone.status_code == 410
    result = await api.get(f"/api/jobs/{job_id}/images/result", headers=admin)
    assert result.status_code == 200 and result.content == answer.content


async def _live_job_with(api: httpx.AsyncClient, admin: dict[str, str], slot_id: str) -> str:
    async def live() -> str | None:
        page = await api.get(
            "/api/jobs", params={"slot_id": slot_id, "status": "processing"}, headers=admin
        )
        items = page.json()["items"]
        return items[0]["id"] if items else None

    return await eventually(live, timeout=20, what="a processing job")


async def test_a_share_link_shows_the_result_until_it_expires(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, db: Any
) -> None:
    done = await ingest(api, stack, "slot-001", jpeg_photo(430))
    job_id = done.headers["x-job-id"]

    made = await api.post(f"/api/jobs/{job_id}/share", json={"minutes": 15}, headers=admin)

    assert made.status_code == 201, made.text
    link = made.json()
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert link["url"] == f"{stack.api_url}{link['path']}"
    token = link["path"].rsplit("/", 1)[1]
    assert len(token) >= 40 and job_id not in link["path"]
    assert await db.share_links.find_one({"_id": token}) is None  # only its digest is kept
    shown = await api.get(link["path"])
    assert shown.status_code == 200 and shown.content == done.content
    assert "attachment" not in shown.headers.get("content-disposition", "")
    assert shown.headers["referrer-policy"] == "no-referrer"

    await db.share_links.update_one(
        {"_id": token_digest(token)},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    expired = await api.get(link["path"])
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "media_expired"
    assert (await api.get(f"/public/shared/{uuid.uuid4().hex}")).status_code == 404
    default = await api.post(f"/api/jobs/{job_id}/share", headers=admin)
    assert default.status_code == 201
    assert (await api.post("/api/jobs/nope/share", headers=admin)).status_code == 404
    too_long = await api.post(f"/api/jobs/{job_id}/share", json={"minutes": 1441}, headers=admin)
    assert too_long.status_code == 422


async def test_share_links_are_rate_limited_per_client(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    done = await ingest(api, stack, "slot-001", jpeg_photo(431))
    link = (await api.post(f"/api/jobs/{done.headers['x-job-id']}/share", headers=admin)).json()
    client = {"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}

    statuses = [(await api.get(link["path"], headers=client)).status_code for _ in range(61)]

    assert statuses == [200] * 60 + [429]
    limited = await api.get(link["path"], headers=client)
    assert 0 < int(limited.headers["retry-after"]) <= 60
    elsewhere = await api.get(link["path"], headers={"X-Forwarded-For": "203.0.113.251"})
    assert elsewhere.status_code == 200
