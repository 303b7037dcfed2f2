"""The job pipeline end to end: real processes, real Kafka, real FerretDB, provider emulators."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import (
    ingest,
    job_record,
    job_with_photo,
    log_events,
    queue_for,
    sha256,
    submissions_for,
    wait_idle,
)
from tests.support.images import jpeg_photo, png_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_gemini_slot_answers_with_the_processed_image(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    photo = jpeg_photo(1)
    response = await ingest(api, stack, "slot-001", photo, extra={"time": "12:00", "profile": "x"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"\x89PNG") and response.content != photo
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    assert job["status"] == "finalized" and job["outcome"] == "succeeded"
    assert job["metadata"] == {"client:time": "12:00", "client:profile": "x"}
    assert job["result"]["sha256"] == sha256(response.content)
    assert await submissions_for(emulators["gemini"], sha256(photo)) == 1
    events = await log_events(db, job["_id"])
    assert events[:4] == ["created", "dispatched", "claimed", "submitted"]
    assert "succeeded" in events


async def test_api_alias_and_file_field_are_accepted(api: httpx.AsyncClient, stack: Stack) -> None:
    response = await api.post(
        "/api/ingest/slot-001",
        data={"password": stack.ingest_password},
        files={"file": ("p.png", png_photo(2), "application/octet-stream")},
    )
    assert response.status_code == 200, response.text


async def test_turbotext_slot_polls_until_the_image_is_ready(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    photo = png_photo(3, emulate="polls=3")
    response = await ingest(api, stack, "slot-002", photo, content_type="image/png")

    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\x89PNG")
    queue = await queue_for(emulators["turbotext"], sha256(photo))
    assert queue is not None and queue["polls"] >= 4  # three reconnects, then the result
    assert queue["source_downloads"], "the emulator downloaded the public media link"
    assert await submissions_for(emulators["turbotext"], sha256(photo)) == 1
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    assert job["provider_job_reference"]
    assert (await log_events(db, job["_id"])).count("polled") >= 4


async def test_provider_error_answers_502_with_the_provider_code(
    api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    response = await ingest(
        api, stack, "slot-001", png_photo(4, emulate="error=400"), content_type="image/png"
    )
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert error["details"]["provider_code"] == "provider_rejected"
    job = await db.jobs.find_one({"_id": error["details"]["job_id"]})
    assert job["outcome"] == "provider_error"


async def test_manual_cancel_mid_poll_answers_409_and_polling_stops(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    photo = png_photo(5, emulate="hang")
    pending = asyncio.create_task(ingest(api, stack, "slot-002", photo, content_type="image/png"))
    queue = await eventually(
        lambda: queue_for(emulators["turbotext"], sha256(photo)), what="the Turbotext queue"
    )
    claim = await eventually(
        lambda: db.job_claims.find_one({"reference": {"$regex": f":{queue['queueid']}$"}}),
        what="the recorded queue id",
    )
    job = await job_record(db, claim["job_id"])
    assert job is not None
    cancel = await api.post(
        f"/api/jobs/{job['_id']}/cancel",
        headers=await admin_headers(api, stack),
    )
    assert cancel.status_code == 202, cancel.text

    response = await pending
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_cancelled"
    await wait_idle(stack, "provider-turbotext")
    polls_when_idle = (await queue_for(emulators["turbotext"], sha256(photo)))["polls"]  # type: ignore[index]
    final = await db.jobs.find_one({"_id": job["_id"]})
    assert final["outcome"] == "cancelled"
    # the worker is idle, so no further poll can be sent for this queue
    assert (await queue_for(emulators["turbotext"], sha256(photo)))["polls"] == polls_when_idle  # type: ignore[index]


async def test_cancel_route_needs_the_bearer_token(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/jobs/whatever/cancel")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_provider_restart_resumes_polling_without_a_second_submission(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    photo = png_photo(6, emulate="polls=12")
    pending = asyncio.create_task(ingest(api, stack, "slot-002", photo, content_type="image/png"))
    await eventually(
        lambda: queue_for(emulators["turbotext"], sha256(photo)), what="the submission"
    )
    stack.kill("provider-turbotext")  # a crash: no graceful hand-over of the lease
    stack.start("provider-turbotext")

    response = await pending
    assert response.status_code == 200, response.text
    assert await submissions_for(emulators["turbotext"], sha256(photo)) == 1
    events = await log_events(db, response.headers["x-job-id"])
    assert "resumed" in events


async def test_duplicate_job_created_is_processed_once(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    from aiokafka import AIOKafkaProducer

    photo = png_photo(7, emulate="polls=4")
    pending = asyncio.create_task(ingest(api, stack, "slot-002", photo, content_type="image/png"))
    await eventually(
        lambda: queue_for(emulators["turbotext"], sha256(photo)), what="the submission"
    )
    job = await job_with_photo(db, sha256(photo))
    assert job is not None
    from photochanger_contracts import JobCreated
    from photochanger_runtime.jobs import Job

    again = JobCreated(occurred_at=job["created_at"], job=Job.model_validate(job).spec)
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            "jobs.created", again.model_dump_json().encode(), key=job["_id"].encode()
        )
    finally:
        await producer.stop()

    response = await pending
    assert response.status_code == 200
    await wait_idle(stack, "provider-turbotext")
    assert await submissions_for(emulators["turbotext"], sha256(photo)) == 1
    events = await log_events(db, job["_id"])
    assert events.count("claimed") == 1 and events.count("dispatched") == 1


async def test_slot_fallback_takes_over_when_the_primary_is_unavailable(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    settings = {
        "prompt": "portrait [emulate: error=503]",
        "retry_policy": {"max_attempts": 1},
        "fallback": {
            "provider": "turbotext",
            "operation": "image_edit",
            "settings": {"prompt": "oil painting", "strength": 30},
        },
    }
    await db.slots.update_one(
        {"_id": "slot-013"}, {"$set": {"is_active": True, "provider": "gemini",
                                       "operation": "image_edit", "settings": settings}}
    )  # fmt: skip
    try:
        photo = jpeg_photo(13)
        response = await ingest(api, stack, "slot-013", photo)
        assert response.status_code == 200, response.text
        events = await log_events(db, response.headers["x-job-id"])
        assert "fallback" in events and "succeeded" in events
        job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
        assert job["provider"] == "turbotext" and job["fallback_from"] == "gemini"
        assert await submissions_for(emulators["gemini"], sha256(photo)) == 1
        assert await submissions_for(emulators["turbotext"], sha256(photo)) == 1
    finally:
        await db.slots.update_one({"_id": "slot-013"}, {"$set": {"is_active": False}})
