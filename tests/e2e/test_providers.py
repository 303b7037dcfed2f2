"""Every provider of configs/providers.json through the whole platform: the matrix grows with
the catalogue, so a new provider is tested end to end the moment it is declared."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from photochanger_devstack import topology
from photochanger_devstack.stack import Stack

from tests.e2e.helpers import ingest, log_events, sha256, submissions_for
from tests.support.images import png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: a slot no other test uses, pointed at each provider in turn
MATRIX_SLOT = "slot-012"


@pytest.mark.parametrize("provider", topology.provider_ids())
async def test_a_slot_on_each_provider_answers_with_its_emulators_image(
    provider: str,
    api: httpx.AsyncClient,
    stack: Stack,
    db: Any,
    emulators: dict[str, httpx.AsyncClient],
) -> None:
    settings = {"prompt": "matrix run", "retry_policy": {"max_attempts": 1}}
    await db.slots.update_one(
        {"_id": MATRIX_SLOT},
        {"$set": {"is_active": True, "provider": provider, "operation": "image_edit",
                  "settings": settings}},
    )  # fmt: skip
    try:
        photo = png_photo(300 + topology.provider_ids().index(provider))
        response = await ingest(api, stack, MATRIX_SLOT, photo, content_type="image/png")

        assert response.status_code == 200, response.text
        assert response.content.startswith(b"\x89PNG") and response.content != photo
        assert await submissions_for(emulators[provider], sha256(photo)) == 1
        job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
        assert job["provider"] == provider and job["outcome"] == "succeeded"
        assert job["result"]["sha256"] == sha256(response.content)
        assert "succeeded" in await log_events(db, job["_id"])
    finally:
        await db.slots.update_one({"_id": MATRIX_SLOT}, {"$set": {"is_active": False}})
