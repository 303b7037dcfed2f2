"""OpenAI slots through the whole platform (real processes, Kafka, FerretDB, the emulator):
the session's platform from the root conftest, slots configured by each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import ingest, log_events, sha256, submissions_for
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: slots no other test uses
SLOT = "slot-005"

Configure = Callable[..., Awaitable[None]]


@pytest.fixture
async def slot(db: Any) -> AsyncIterator[Configure]:
    """Point SLOT at a provider with settings; deactivated again after the test."""

    async def configure(provider: str, settings: dict[str, Any]) -> None:
        await db.slots.update_one(
            {"_id": SLOT},
            {"$set": {"is_active": True, "provider": provider, "operation": "image_edit",
                      "settings": settings}},
        )  # fmt: skip

    yield configure
    await db.slots.update_one({"_id": SLOT}, {"$set": {"is_active": False}})


async def test_an_openai_slot_answers_with_the_emulators_image_and_logs_the_usage(
    api: httpx.AsyncClient,
    stack: Stack,
    db: Any,
    emulators: dict[str, httpx.AsyncClient],
    slot: Configure,
) -> None:
    await slot("openai", {"prompt": "warm studio portrait", "quality": "low", "size": "1024x1024"})
    photo = jpeg_photo(501)
    response = await ingest(api, stack, SLOT, photo)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG") and response.content != photo
    assert await submissions_for(emulators["openai"], sha256(photo)) == 1
    last = (await emulators["openai"].get("/_emulator/stats")).json()["last_edit"]
    assert last["fields"]["quality"] == "low" and last["fields"]["model"] == "gpt-image-1.5"
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    assert job["provider"] == "openai" and job["outcome"] == "succeeded"
    (submitted,) = [e for e in job["log"] if e["event"] == "submitted"]
    usage = submitted["details"]["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0


async def test_a_rate_limited_edit_is_retried_inside_the_deadline(
    api: httpx.AsyncClient,
    stack: Stack,
    db: Any,
    emulators: dict[str, httpx.AsyncClient],
    slot: Configure,
) -> None:
    await slot("openai", {"prompt": "x", "retry_policy": {"max_attempts": 2,
                                                         "backoff_seconds": 0.2}})  # fmt: skip
    photo = png_photo(502, emulate="fail-times=1, error=429")  # a 429, then an image
    response = await ingest(api, stack, SLOT, photo, content_type="image/png")

    assert response.status_code == 200, response.text
    assert await submissions_for(emulators["openai"], sha256(photo)) == 2
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    (retry,) = [e for e in job["log"] if e["event"] == "retry_scheduled"]
    assert retry["error_code"] == "provider_quota_exhausted"
    assert retry["provider_status"] == "rate_limit_exceeded"
    assert retry["details"]["delay_s"] >= 1.0  # the emulator's retry-after
    assert job["outcome"] == "succeeded"


async def test_a_content_policy_refusal_is_a_502_with_the_blocked_code_and_no_retry(
    api: httpx.AsyncClient,
    stack: Stack,
    db: Any,
    emulators: dict[str, httpx.AsyncClient],
    slot: Configure,
) -> None:
    await slot("openai", {"prompt": "[emulate: blocked]", "retry_policy": {"max_attempts": 3}})
    photo = jpeg_photo(503)
    response = await ingest(api, stack, SLOT, photo)

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert error["details"]["provider_code"] == "provider_blocked"
    assert await submissions_for(emulators["openai"], sha256(photo)) == 1
    job = await db.jobs.find_one({"_id": error["details"]["job_id"]})
    assert job["outcome"] == "provider_error"
    assert job["error"]["provider_status"] == "moderation_blocked"


@pytest.mark.parametrize(("primary", "fallback"), [("openai", "gemini"), ("gemini", "openai")])
async def test_the_slot_fallback_moves_a_job_between_openai_and_gemini(
    api: httpx.AsyncClient,
    stack: Stack,
    db: Any,
    emulators: dict[str, httpx.AsyncClient],
    slot: Configure,
    primary: str,
    fallback: str,
) -> None:
    await slot(
        primary,
        {
            "prompt": "portrait [emulate: error=503]",
            "retry_policy": {"max_attempts": 1},
            "fallback": {"provider": fallback, "operation": "image_edit",
                         "settings": {"prompt": "portrait, softly lit"}},
        },
    )  # fmt: skip
    photo = jpeg_photo(504 if primary == "openai" else 505)
    response = await ingest(api, stack, SLOT, photo)

    assert response.status_code == 200, response.text
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    assert job["provider"] == fallback and job["fallback_from"] == primary
    assert await submissions_for(emulators[primary], sha256(photo)) == 1
    assert await submissions_for(emulators[fallback], sha256(photo)) == 1
    events = await log_events(db, job["_id"])
    assert "fallback" in events and "succeeded" in events
