"""Expiry across processes: a job outlives the api replica that took it, the purge route,
and a scan proving no image bytes ended up in job documents or processing logs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.ports import free_ports
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import final_record, ingest, job_with_photo, queue_for, sha256, wait_idle
from tests.support.images import png_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
async def short_deadline(db: Any) -> AsyncIterator[None]:
    await db.settings.update_one(
        {"_id": "platform"}, {"$set": {"sync_response_seconds": 4}}, upsert=True
    )
    try:
        yield
    finally:
        await db.settings.update_one({"_id": "platform"}, {"$unset": {"sync_response_seconds": 1}})


@pytest.mark.usefixtures("short_deadline")
async def test_job_of_a_dead_api_replica_still_times_out_and_polling_stops(
    stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient], tmp_path_factory: Any
) -> None:
    doomed = dataclasses.replace(
        stack,
        state_dir=tmp_path_factory.mktemp("doomed-api"),
        ports={**stack.ports, "api": free_ports(1)[0]},
        processes={},
    )
    await asyncio.to_thread(doomed.start, "api")
    photo = png_photo(60, emulate="hang")
    async with httpx.AsyncClient(base_url=doomed.api_url, timeout=30) as client:
        request = asyncio.create_task(
            ingest(client, doomed, "slot-002", photo, content_type="image/png")
        )
        await eventually(lambda: queue_for(emulators["turbotext"], sha256(photo)), what="submit")
        doomed.kill("api")  # the replica holding the request dies
        with pytest.raises(httpx.HTTPError):
            await request

    job = await job_with_photo(db, sha256(photo))
    assert job is not None
    final = await final_record(db, job["_id"])
    assert final["outcome"] == "timeout"
    await wait_idle(stack, "provider-turbotext")


async def test_purge_route_runs_the_media_sweep_now(api: httpx.AsyncClient, stack: Stack) -> None:
    assert (await api.post("/api/media/cache/purge")).status_code == 401
    response = await api.post("/api/media/cache/purge", headers=await admin_headers(api, stack))
    assert response.status_code == 202
    assert set(response.json()["will_purge"]) == {"payloads", "media_links", "results"}


async def test_job_records_and_log_entries_stay_small(db: Any) -> None:
    import bson

    largest_job = 0
    async for job in db.jobs.find({}):
        largest_job = max(largest_job, len(bson.encode(job)))
        assert not any(isinstance(v, bytes) for v in job.values())
    largest_entry = 0
    async for entry in db.processing_logs.find({}):
        largest_entry = max(largest_entry, len(bson.encode(entry)))
    # a final record carries its whole processing log: a few kilobytes, never image bytes
    assert largest_job > 0 and largest_job < 16_000
    assert largest_entry < 4_000
