"""Deadlines: a job that outlives `T_sync_response` answers 504 and stops provider work.

`T_sync_response` is 45-60 s in production; these tests shorten it by writing the settings
document directly (configuration, not sleeping) and restore it afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import ingest, queue_for, sha256, wait_idle
from tests.support.images import png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
async def short_deadline(db: Any) -> AsyncIterator[float]:
    await db.settings.update_one(
        {"_id": "platform"}, {"$set": {"sync_response_seconds": 4}}, upsert=True
    )
    try:
        yield 4.0
    finally:
        await db.settings.update_one({"_id": "platform"}, {"$unset": {"sync_response_seconds": 1}})


async def test_deadline_answers_504_and_the_provider_stops_polling(
    api: httpx.AsyncClient,
    stack: Stack,
    db: Any,
    emulators: dict[str, httpx.AsyncClient],
    short_deadline: float,
) -> None:
    photo = png_photo(20, emulate="hang")
    response = await ingest(api, stack, "slot-002", photo, content_type="image/png")

    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "deadline_exceeded"
    assert {"job_id", "expires_at"} <= set(error["details"])
    job = await db.jobs.find_one({"_id": error["details"]["job_id"]})
    assert job["status"] == "finalized" and job["outcome"] == "timeout"
    await wait_idle(stack, "provider-turbotext")
    queue = await queue_for(emulators["turbotext"], sha256(photo))
    assert queue is not None
    last_poll = queue["last_poll_at"]
    assert last_poll is None or last_poll <= job["finalized_at"].timestamp() + 1.0


async def test_slow_gemini_answer_after_the_deadline_is_a_504(
    api: httpx.AsyncClient, stack: Stack, db: Any, short_deadline: float
) -> None:
    response = await ingest(
        api, stack, "slot-001", png_photo(21, emulate="slow=8"), content_type="image/png"
    )
    assert response.status_code == 504
    job = await db.jobs.find_one({"_id": response.json()["error"]["details"]["job_id"]})
    assert job["outcome"] == "timeout" and job.get("result") is None
