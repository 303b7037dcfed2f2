"""Job inspection, public result downloads and their expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_job_view_shows_the_processing_log_without_image_bytes(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    response = await ingest(api, stack, "slot-001", jpeg_photo(50))
    job_id = response.headers["x-job-id"]
    view = await api.get(f"/api/jobs/{job_id}", headers=await admin_headers(api, stack))

    assert view.status_code == 200
    body = view.json()
    assert body["outcome"] == "succeeded" and body["failure_reason"] is None
    events = [e["event"] for e in body["processing_log"]]
    assert events[0] == "created" and "succeeded" in events
    assert all(e.get("trace_id") for e in body["processing_log"])
    assert len(view.content) < 20_000  # references and timings, never image bytes
    assert (await api.get(f"/api/jobs/{job_id}")).status_code == 401


async def test_result_is_downloadable_until_retention_then_410(
    api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    response = await ingest(api, stack, "slot-001", jpeg_photo(51))
    job_id = response.headers["x-job-id"]
    link = response.headers["x-result-url"]
    assert link.startswith(f"{stack.api_url}/public/results/") and job_id not in link

    download = await api.get(link)
    assert download.status_code == 200
    assert download.content == response.content
    assert download.headers["content-disposition"] == f'attachment; filename="{job_id}.png"'
    assert "no-store" in download.headers["cache-control"]

    # retention passes (set on the document: the reaper has not run, the link expires anyway)
    await db.jobs.update_one(
        {"_id": job_id}, {"$set": {"result_expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    expired = await api.get(link)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "result_expired"


async def test_unknown_result_and_media_are_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/public/results/nope")).status_code == 404
    media = await api.get("/public/media/nope")
    assert media.status_code == 404 and media.json()["error"]["code"] == "media_not_found"


async def test_the_ingest_photo_goes_when_the_job_is_final_and_the_result_stays(
    api: httpx.AsyncClient, stack: Stack, db: Any, media: MediaStore
) -> None:
    from tests.support.waiting import eventually

    response = await ingest(api, stack, "slot-001", jpeg_photo(52))
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})

    async def purged() -> bool:
        return await media.stat(job["payload"]["key"]) is None

    await eventually(purged, what="the finalizer to delete the ingest photo")
    assert await db.jobs_live.find_one({"_id": job["_id"]}) is None
    result = await media.stat(job["result"]["key"])
    assert result is not None and result.size_bytes == len(response.content)
