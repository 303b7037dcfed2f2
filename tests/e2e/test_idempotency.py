"""Submitting twice makes one job: `Idempotency-Key` on `/v1/jobs` and `/ingest` (also when
the retry reaches another api replica), and the same photo re-sent to `/ingest` while its job
runs (DSLR Remote Pro sends no header) joins that job — one provider call, the same image."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.client_api import make_key, second_api, submit
from tests.e2e.helpers import ingest, job_with_photo, sha256, submissions_for
from tests.support.images import jpeg_photo, png_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
__all__ = ["second_api"]  # a fixture of this module


async def test_two_submissions_with_one_idempotency_key_make_one_job(
    api: httpx.AsyncClient, stack: Stack, emulators: dict[str, httpx.AsyncClient]
) -> None:
    key = await make_key(api, stack)
    photo = png_photo(2601, emulate="slow=2")
    headers = {"Idempotency-Key": "order-2601"}

    first = await submit(api, key, "slot-001", photo, headers=headers, content_type="image/png")
    again = await submit(api, key, "slot-001", photo, headers=headers, content_type="image/png")

    assert first.status_code == again.status_code == 202, again.text
    assert first.json()["id"] == again.json()["id"]
    done = await submit(
        api, key, "slot-001", photo, headers={**headers, "Prefer": "wait=30"},
        content_type="image/png",
    )  # fmt: skip
    assert done.status_code == 200 and done.headers["x-job-id"] == first.json()["id"]
    assert await submissions_for(emulators["gemini"], sha256(photo)) == 1


async def test_the_same_idempotency_key_with_another_body_is_refused(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack)
    headers = {"Idempotency-Key": "order-2602"}
    assert (
        await submit(api, key, "slot-001", jpeg_photo(2602), headers=headers)
    ).status_code == 202

    other = await submit(api, key, "slot-001", jpeg_photo(2603), headers=headers)

    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # another key's namespace is its own
    stranger = await make_key(api, stack)
    assert (
        await submit(api, stranger, "slot-001", jpeg_photo(2603), headers=headers)
    ).status_code == 202


async def test_a_retry_racing_on_another_replica_gets_the_same_job(
    api: httpx.AsyncClient,
    stack: Stack,
    second_api: str,
    emulators: dict[str, httpx.AsyncClient],
) -> None:
    key = await make_key(api, stack)
    photo = jpeg_photo(2604)
    headers = {"Idempotency-Key": "order-2604", "Prefer": "wait=30"}
    async with httpx.AsyncClient(base_url=second_api, timeout=60) as other:
        answers = await asyncio.gather(
            submit(api, key, "slot-001", photo, headers=headers),
            submit(other, key, "slot-001", photo, headers=headers),
        )
    ok = [a for a in answers if a.status_code == 200]
    # both wait for the one job, or the slower one came while the first was being written
    assert ok and all(a.status_code in {200, 409} for a in answers), [a.text for a in answers]
    assert len({a.headers["x-job-id"] for a in ok}) == 1
    assert len({a.content for a in ok}) == 1
    assert await submissions_for(emulators["gemini"], sha256(photo)) == 1


@pytest.mark.xfail(
    reason="open (issue 25): after the fleet-budget tests in one session the provider was seen "
    "called twice for the one job this test makes; not yet diagnosed",
    strict=False,
)
async def test_ingest_with_an_idempotency_key_answers_the_same_image_again(
    api: httpx.AsyncClient, stack: Stack, emulators: dict[str, httpx.AsyncClient]
) -> None:
    photo = jpeg_photo(2605)
    headers = {"Idempotency-Key": "booth-7-shot-2605"}
    data = {"password": stack.ingest_password}
    files = {"fileToUpload": ("p.jpg", photo, "image/jpeg")}

    first = await api.post("/ingest/slot-001", data=data, files=files, headers=headers)
    again = await api.post("/ingest/slot-001", data=data, files=files, headers=headers)

    assert first.status_code == again.status_code == 200, again.text
    assert first.headers["x-job-id"] == again.headers["x-job-id"]
    assert first.content == again.content
    assert await submissions_for(emulators["gemini"], sha256(photo)) == 1


async def test_a_photo_resent_to_ingest_while_its_job_runs_joins_it(
    api: httpx.AsyncClient, stack: Stack, db: Any, emulators: dict[str, httpx.AsyncClient]
) -> None:
    photo = png_photo(2606, emulate="slow=3")
    first = asyncio.create_task(ingest(api, stack, "slot-001", photo, content_type="image/png"))

    async def running() -> dict[str, Any] | None:
        return await job_with_photo(db, sha256(photo))

    await eventually(running, what="the first booth's job to exist")
    second = await ingest(api, stack, "slot-001", photo, content_type="image/png")
    first_answer = await first

    assert first_answer.status_code == second.status_code == 200, second.text
    assert first_answer.content == second.content
    assert first_answer.headers["x-job-id"] == second.headers["x-job-id"]
    assert second.headers["x-joined-job"] == "true"
    assert await submissions_for(emulators["gemini"], sha256(photo)) == 1
    assert await db.jobs.count_documents({"payload.sha256": sha256(photo)}) == 1  # one job
