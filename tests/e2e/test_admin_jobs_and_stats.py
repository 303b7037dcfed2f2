"""The job list (filters, cursor pages) and the statistics computed in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

STATS_SLOT = "slot-011"


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


async def test_job_list_pages_through_every_job_once(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    made = await asyncio.gather(
        *(ingest(api, stack, "slot-001", jpeg_photo(140 + n)) for n in range(7))
    )
    ids = {r.headers["x-job-id"] for r in made}

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {
            "slot_id": "slot-001",
            "created_from": since.isoformat(),
            "limit": 3,
        }
        if cursor:
            params["cursor"] = cursor
        page = await api.get("/api/jobs", params=params, headers=admin)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [j["id"] for j in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert set(seen) == ids and len(seen) == len(ids) == 7
    assert pages == 3


async def test_job_list_filters_by_outcome_and_status(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    failed = await ingest(
        api, stack, "slot-001", png_photo(150, emulate="error=400"), content_type="image/png"
    )
    assert failed.status_code == 502
    job_id = failed.json()["error"]["details"]["job_id"]

    errors = await api.get(
        "/api/jobs", params={"outcome": "provider_error", "limit": 200}, headers=admin
    )
    succeeded = await api.get(
        "/api/jobs", params={"outcome": "succeeded", "limit": 200}, headers=admin
    )
    pending = await api.get("/api/jobs", params={"status": "pending"}, headers=admin)

    assert job_id in [j["id"] for j in errors.json()["items"]]
    listed = next(j for j in errors.json()["items"] if j["id"] == job_id)
    assert listed["failure_reason"] == "provider_error" and listed["error_code"]
    assert job_id not in [j["id"] for j in succeeded.json()["items"]]
    assert all(j["outcome"] == "succeeded" for j in succeeded.json()["items"])
    assert all(j["status"] == "pending" for j in pending.json()["items"])


async def test_job_list_rejects_bad_filters_with_422(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for params in (
        {"outcome": "exploded"},
        {"limit": 0},
        {"cursor": "not-a-cursor"},
        {"created_from": "yesterday"},
    ):
        response = await api.get("/api/jobs", params=params, headers=admin)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "validation_failed"


async def test_job_view_and_cancel_of_unknown_jobs_are_404(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await api.get("/api/jobs/nope", headers=admin)).status_code == 404
    assert (await api.post("/api/jobs/nope/cancel", headers=admin)).status_code == 404


async def test_cancel_of_a_final_job_is_409(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    done = await ingest(api, stack, "slot-001", jpeg_photo(151))

    response = await api.post(f"/api/jobs/{done.headers['x-job-id']}/cancel", headers=admin)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_already_final"


async def test_stats_count_outcomes_rate_and_latency_per_provider(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    etag = (await api.get(f"/api/slots/{STATS_SLOT}", headers=admin)).headers["etag"]
    slot = {
        "name": "Stats slot",
        "provider": "gemini",
        "operation": "image_edit",
        "is_active": True,
        "settings": {"prompt": "stats", "retry_policy": {"max_attempts": 1}},
    }
    put = await api.put(f"/api/slots/{STATS_SLOT}", json=slot, headers={**admin, "If-Match": etag})
    assert put.status_code == 200
    assert (
        await api.post(f"/api/slots/{STATS_SLOT}/reset_stats", headers=admin)
    ).status_code == 200
    try:
        ok = await asyncio.gather(
            *(ingest(api, stack, STATS_SLOT, jpeg_photo(160 + n)) for n in range(3))
        )
        bad = await ingest(
            api, stack, STATS_SLOT, png_photo(163, emulate="error=400"), content_type="image/png"
        )
        assert [r.status_code for r in ok] == [200, 200, 200] and bad.status_code == 502

        response = await api.get(f"/api/stats/{STATS_SLOT}", headers=admin)

        assert response.status_code == 200
        body = response.json()
        assert [w["window"] for w in body["windows"]] == ["1h", "24h", "7d"]
        hour = body["windows"][0]
        assert hour["total"] == 4 and hour["finalized"] == 4 and hour["in_flight"] == 0
        assert hour["by_outcome"] == {
            "succeeded": 3,
            "timeout": 0,
            "provider_error": 1,
            "cancelled": 0,
        }
        assert hour["success_rate"] == 0.75
        assert hour["latency"]["samples"] == 3 and hour["latency"]["truncated"] is False
        assert 0 < hour["latency"]["p50_ms"] <= hour["latency"]["p95_ms"] < 48_000
        assert set(hour["by_provider"]) == {"gemini"}
        assert hour["by_provider"]["gemini"]["by_outcome"]["succeeded"] == 3

        overall = await api.get("/api/stats/global", params={"window": "24h"}, headers=admin)
        assert overall.status_code == 200
        day = overall.json()["windows"]
        assert len(day) == 1 and day[0]["window"] == "24h"
        assert day[0]["total"] >= 4 and day[0]["by_outcome"]["succeeded"] >= 3
        assert {"gemini"} <= set(day[0]["by_provider"])
        assert (await api.get("/api/stats/global?window=2h", headers=admin)).status_code == 422
    finally:
        etag = (await api.get(f"/api/slots/{STATS_SLOT}", headers=admin)).headers["etag"]
        await api.put(
            f"/api/slots/{STATS_SLOT}",
            json={**slot, "is_active": False},
            headers={**admin, "If-Match": etag},
        )
