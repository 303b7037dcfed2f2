"""The client job API on the running platform: keys made through the admin API, `POST
/v1/jobs` → 202 + Location, the job's Server-Sent Events until it succeeds (also resumed on
another api replica), `GET` with the result link, `Prefer: wait`, cancel, and what a key may
not do (other keys' jobs, other slots, after it is revoked)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.client_api import bearer, make_key, read_events, second_api, submit
from tests.e2e.helpers import ingest, sha256, submissions_for
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
__all__ = ["second_api"]  # a fixture of this module


async def test_a_job_is_accepted_followed_to_success_and_its_result_fetched(
    api: httpx.AsyncClient, stack: Stack, emulators: dict[str, httpx.AsyncClient]
) -> None:
    key = await make_key(api, stack)
    assert key["key"].startswith("pck_") and key["webhook_secret"].startswith("whsec_")
    photo = jpeg_photo(2501)

    accepted = await submit(api, key, "slot-001", photo, fields={"booth": "lobby"})

    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert accepted.headers["location"] == job["urls"]["self"]
    assert job["urls"]["self"] == f"{stack.api_url}/v1/jobs/{job['id']}"
    assert job["status"] in {"pending", "processing"} and job["metadata"] == {"booth": "lobby"}
    events = await read_events(api, job["urls"]["events"], key)
    assert events[-1]["event"] == "status" and events[-1]["id"] == "3"
    assert events[-1]["data"]["status"] == "succeeded"
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})

    view = await api.get(job["urls"]["self"], headers=bearer(key))
    assert view.status_code == 200
    body = view.json()
    assert body["status"] == "succeeded" and body["error"] is None
    assert body["timings"]["total_ms"] > 0
    result = await api.get(body["result"]["url"], headers=bearer(key))
    assert (
        result.status_code == 200 and result.headers["content-type"] == body["result"]["mime_type"]
    )
    assert len(result.content) == body["result"]["size_bytes"]
    assert await submissions_for(emulators["gemini"], sha256(photo)) == 1


async def test_a_finished_stream_resumed_on_another_replica_sends_only_what_is_new(
    api: httpx.AsyncClient, stack: Stack, second_api: str
) -> None:
    key = await make_key(api, stack)
    accepted = await submit(
        api, key, "slot-001", png_photo(2502, emulate="slow=3"), content_type="image/png"
    )
    job = accepted.json()
    first = await read_events(api, job["urls"]["events"], key, stop_after=1)
    assert first[0]["id"] == "1" and first[0]["data"]["status"] == "pending"

    # the client lost the connection; it comes back through the balancer to the other replica
    async with httpx.AsyncClient(base_url=second_api, timeout=60) as other:
        path = f"/v1/jobs/{job['id']}/events"  # this replica, not the link's host
        rest = await read_events(other, path, key, last_event_id="1")
        assert [e["id"] for e in rest][-1] == "3" and "1" not in [e["id"] for e in rest]
        assert rest[-1]["data"]["status"] == "succeeded"
        again = await read_events(other, path, key, last_event_id="3")
    assert again == []  # nothing after the final event: the stream just ends


async def test_a_key_sees_only_its_own_jobs(api: httpx.AsyncClient, stack: Stack) -> None:
    mine, theirs = await make_key(api, stack), await make_key(api, stack)
    job = (await submit(api, mine, "slot-001", jpeg_photo(2503))).json()

    for method, path in (("GET", ""), ("GET", "/events"), ("GET", "/result"), ("DELETE", "")):
        answer = await api.request(method, f"/v1/jobs/{job['id']}{path}", headers=bearer(theirs))
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "job_not_found"
    assert (await api.get(f"/v1/jobs/{job['id']}")).status_code == 401


async def test_a_revoked_key_is_refused_at_once(api: httpx.AsyncClient, stack: Stack) -> None:
    key = await make_key(api, stack)
    assert (await submit(api, key, "slot-001", jpeg_photo(2504))).status_code == 202

    revoked = await api.delete(
        f"/api/client-keys/{key['id']}", headers=await admin_headers(api, stack)
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None

    refused = await submit(api, key, "slot-001", jpeg_photo(2505))
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"
    as_password = await ingest(api, stack, "slot-001", jpeg_photo(2506), password=key["key"])
    assert as_password.status_code == 401


async def test_a_key_bound_to_a_slot_is_refused_on_another(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack, slots=["slot-002"])

    refused = await submit(api, key, "slot-001", jpeg_photo(2507))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"]["slot_id"] == "slot-001"
    as_password = await ingest(api, stack, "slot-001", jpeg_photo(2508), password=key["key"])
    assert as_password.status_code == 403


async def test_a_booth_key_works_as_the_ingest_password_and_counts_in_its_usage(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack, slots=["slot-001"])

    answer = await ingest(api, stack, "slot-001", jpeg_photo(2509), password=key["key"])

    assert answer.status_code == 200, answer.text
    listed = await api.get("/api/client-keys", headers=await admin_headers(api, stack))
    mine = next(k for k in listed.json()["items"] if k["id"] == key["id"])
    assert mine["usage"] == {"jobs": 1, "succeeded": 1}
    assert "key" not in mine and "webhook_secret" not in mine and "secret_sha256" not in mine


async def test_prefer_wait_answers_the_image_when_the_job_is_fast(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack)

    answer = await submit(api, key, "slot-001", jpeg_photo(2510), headers={"Prefer": "wait=30"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/")
    assert answer.headers["x-job-id"]


async def test_prefer_wait_answers_202_after_the_wait_when_the_job_is_slow(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack)
    started = time.monotonic()

    answer = await submit(
        api, key, "slot-001", png_photo(2511, emulate="slow=40"),
        headers={"Prefer": "wait=30"}, content_type="image/png",
    )  # fmt: skip

    assert answer.status_code == 202, answer.text
    assert time.monotonic() - started >= 30
    assert answer.headers["preference-applied"] == "wait=30"
    assert answer.json()["status"] in {"pending", "processing"}
    cancelled = await api.delete(answer.headers["location"], headers=bearer(key))
    assert cancelled.status_code == 202 and cancelled.json()["cancel_requested"] is True


async def test_a_cancelled_job_ends_cancelled_and_cannot_be_cancelled_again(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack)
    job = (
        await submit(
            api, key, "slot-001", png_photo(2512, emulate="slow=20"), content_type="image/png"
        )
    ).json()

    assert (await api.delete(job["urls"]["self"], headers=bearer(key))).status_code == 202
    events = await read_events(api, job["urls"]["events"], key)

    assert events[-1]["data"]["status"] == "cancelled"
    again = await api.delete(job["urls"]["self"], headers=bearer(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_already_final"


@pytest.mark.parametrize(
    ("fields", "code"),
    [({}, "validation_failed"), ({"slot_id": "slot-999"}, "slot_not_found")],
)
async def test_a_submission_without_a_known_slot_is_refused_and_leaves_nothing(
    api: httpx.AsyncClient, stack: Stack, db: Any, fields: dict[str, str], code: str
) -> None:
    key = await make_key(api, stack)
    photo = jpeg_photo(2513)
    answer = await api.post(
        "/v1/jobs", data=fields, files={"photo": ("p.jpg", photo, "image/jpeg")},
        headers=bearer(key),
    )  # fmt: skip
    assert answer.json()["error"]["code"] == code, answer.text
    assert await db.jobs_live.find_one({"payload.sha256": sha256(photo)}) is None
