"""The job list filtered by the domain's `failure_reason` (with `outcome` as its alias), and a
query parameter the list does not know refused instead of silently ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


@pytest.fixture
async def short_deadline(db: Any) -> AsyncIterator[float]:
    await db.settings.update_one(
        {"_id": "platform"}, {"$set": {"sync_response_seconds": 4}}, upsert=True
    )
    try:
        yield 4.0
    finally:
        await db.settings.update_one({"_id": "platform"}, {"$unset": {"sync_response_seconds": 1}})


async def listed(
    api: httpx.AsyncClient, admin: dict[str, str], since: datetime, **filters: str
) -> list[dict[str, Any]]:
    params = {"created_from": since.isoformat(), "limit": "200", **filters}
    response = await api.get("/api/jobs", params=params, headers=admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_failure_reason_timeout_returns_only_the_timeouts(
    api: httpx.AsyncClient, stack: Stack, admin: dict[str, str], short_deadline: float
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    hung = await ingest(
        api, stack, "slot-002", png_photo(610, emulate="hang"), content_type="image/png"
    )
    assert hung.status_code == 504, hung.text
    refused = await ingest(
        api, stack, "slot-001", png_photo(611, emulate="error=400"), content_type="image/png"
    )
    assert refused.status_code == 502, refused.text
    done = await ingest(api, stack, "slot-001", jpeg_photo(612))
    assert done.status_code == 200, done.text
    timeout_id = hung.json()["error"]["details"]["job_id"]

    timeouts = await listed(api, admin, since, failure_reason="timeout")
    provider_errors = await listed(api, admin, since, failure_reason="provider_error")
    everything = await listed(api, admin, since)

    assert [j["id"] for j in timeouts] == [timeout_id]
    assert timeouts[0]["failure_reason"] == "timeout" and timeouts[0]["status"] == "finalized"
    assert [j["id"] for j in provider_errors] == [refused.json()["error"]["details"]["job_id"]]
    # no filter: all three (a job of an earlier test may end inside the window too)
    ours = {timeout_id, refused.json()["error"]["details"]["job_id"], done.headers["X-Job-Id"]}
    assert ours <= {j["id"] for j in everything}
    # the older name is an alias
    assert [j["id"] for j in await listed(api, admin, since, outcome="timeout")] == [timeout_id]
    both = await listed(api, admin, since, failure_reason="timeout", outcome="timeout")
    assert [j["id"] for j in both] == [timeout_id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"failure_reasn": "timeout"}, "query.failure_reasn"),
        ({"slotid": "slot-001"}, "query.slotid"),
        ({"failure_reason": "succeeded"}, "query.failure_reason"),
        ({"failure_reason": "exploded"}, "query.failure_reason"),
        ({"failure_reason": "timeout", "outcome": "provider_error"}, "query.outcome"),
    ],
)
async def test_an_unknown_or_contradictory_filter_is_422(
    api: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await api.get("/api/jobs", params=params, headers=admin)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [p["field"] for p in error["details"]["problems"]] == [field]
