"""Every rejected ingest answers with the documented error and leaves nothing behind:
no job, no stored photo, no event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore

from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def _created_offsets(stack: Stack) -> dict[Any, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=stack.infra.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic("jobs.created") or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic("jobs.created") or set()
        return dict(
            await consumer.end_offsets([TopicPartition("jobs.created", p) for p in partitions])
        )
    finally:
        await consumer.stop()


async def _records(db: Any) -> set[str]:
    """Every job id on record, live or final (a job moves between the two as it ends)."""
    live = {d["_id"] async for d in db.jobs_live.find({}, {"_id": 1})}
    return live | {d["_id"] async for d in db.jobs.find({}, {"_id": 1})}


async def _photos(media: MediaStore) -> set[str]:
    return {o.key async for o in media.list("payloads/")}


@pytest.fixture
async def nothing_left_behind(db: Any, stack: Stack, media: MediaStore) -> AsyncIterator[None]:
    """No job record, no stored photo and no `JobCreated` event from a rejected ingest."""
    records, photos = await _records(db), await _photos(media)
    offsets = await _created_offsets(stack)
    assert offsets, "jobs.created has partitions"
    yield
    # nothing new; earlier tests' jobs may end and their photos be cleaned up meanwhile
    assert await _records(db) <= records
    assert await _photos(media) <= photos
    assert await _created_offsets(stack) == offsets


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return dict(body["error"])


@pytest.mark.usefixtures("nothing_left_behind")
async def test_unknown_slot_is_404(api: httpx.AsyncClient, stack: Stack) -> None:
    _error(await ingest(api, stack, "slot-999", jpeg_photo()), 404, "slot_not_found")


@pytest.mark.usefixtures("nothing_left_behind")
async def test_wrong_password_is_401(api: httpx.AsyncClient, stack: Stack) -> None:
    _error(
        await ingest(api, stack, "slot-001", jpeg_photo(), password="nope"),
        401,
        "invalid_password",
    )


@pytest.mark.usefixtures("nothing_left_behind")
async def test_missing_photo_is_400(api: httpx.AsyncClient, stack: Stack) -> None:
    response = await api.post(
        "/ingest/slot-001", data={"password": stack.ingest_password}, files={"other": ("x", b"")}
    )
    _error(response, 400, "file_missing")


@pytest.mark.usefixtures("nothing_left_behind")
async def test_malformed_multipart_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/ingest/slot-001",
        content=b'--abc\r\nContent-Disposition: form-data; name="password"\r\n\r\nx',
        headers={"Content-Type": "multipart/form-data; boundary=abc"},
    )
    _error(response, 400, "malformed_request")


@pytest.mark.usefixtures("nothing_left_behind")
async def test_a_body_that_is_not_multipart_is_415(api: httpx.AsyncClient) -> None:
    response = await api.post("/ingest/slot-001", json={"password": "x"})
    error = _error(response, 415, "unsupported_media_type")
    assert error["details"]["accepted"] == ["multipart/form-data"]


@pytest.mark.usefixtures("nothing_left_behind")
async def test_oversized_photo_is_413(api: httpx.AsyncClient, stack: Stack) -> None:
    big = jpeg_photo() + b"\0" * (20 * 1024 * 1024)
    _error(await ingest(api, stack, "slot-001", big), 413, "payload_too_large")


@pytest.mark.usefixtures("nothing_left_behind")
async def test_non_image_with_an_image_header_is_415(api: httpx.AsyncClient, stack: Stack) -> None:
    error = _error(
        await ingest(api, stack, "slot-001", b"%PDF-1.7 not a photo", content_type="image/jpeg"),
        415,
        "unsupported_media_type",
    )
    assert error["details"]["detected"] is None


@pytest.mark.usefixtures("nothing_left_behind")
async def test_heic_is_415_for_a_provider_without_heif(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64
    error = _error(
        await ingest(api, stack, "slot-002", heic, content_type="image/jpeg"),
        415,
        "unsupported_media_type",
    )
    assert error["details"]["detected"] == "image/heic"


@pytest.mark.usefixtures("nothing_left_behind")
async def test_inactive_slot_is_409(api: httpx.AsyncClient, stack: Stack) -> None:
    _error(await ingest(api, stack, "slot-015", jpeg_photo()), 409, "slot_inactive")


async def test_slot_with_invalid_settings_is_422(
    api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    await db.slots.update_one(
        {"_id": "slot-014"},
        {
            "$set": {
                "is_active": True,
                "provider": "turbotext",
                "settings": {"prompt": "x", "strength": 99},
            }
        },
    )
    try:
        before = await _records(db)
        error = _error(
            await ingest(api, stack, "slot-014", jpeg_photo()), 422, "slot_not_configured"
        )
        assert error["details"]["problems"][0]["field"] == "strength"
        assert await _records(db) == before
    finally:
        await db.slots.update_one({"_id": "slot-014"}, {"$set": {"is_active": False}})
