"""The ttl-reaper's sweeps against the real broker and MongoDB-protocol server, with a
clock the tests move instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from photochanger_contracts import Operation, topics
from photochanger_runtime.broker import create_broker, ensure_topics
from photochanger_runtime.clock import ManualClock
from photochanger_runtime.expiry import Reaper
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.media_store import MediaStore
from photochanger_runtime.processing_log import ProcessingLog
from pymongo import AsyncMongoClient

from tests.support.images import png_photo

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(mongodb_uri: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    name = f"reaper_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
async def broker(kafka_bootstrap: str) -> AsyncIterator[Any]:
    await ensure_topics(
        kafka_bootstrap, topics.all_topics(("gemini",)), partitions=3, replication_factor=1
    )
    kafka = create_broker(kafka_bootstrap, client_id="reaper-test")
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


@pytest.fixture
async def status_events(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topics.JOBS_STATUS, bootstrap_servers=kafka_bootstrap, auto_offset_reset="latest"
    )
    await consumer.start()
    await consumer.seek_to_end()
    # resolve the end positions now, so events published by the test are after them
    for tp in consumer.assignment():
        await consumer.position(tp)
    try:
        yield consumer
    finally:
        await consumer.stop()


def reaper_for(db: Any, broker: Any, clock: ManualClock) -> Reaper:
    return Reaper(
        jobs=JobRepository(db), media=MediaStore(db), processing_log=ProcessingLog(db),
        broker=broker, clock=clock,
    )  # fmt: skip


async def insert_job(db: Any, *, status: str = "pending", **fields: Any) -> str:
    media = MediaStore(db)
    job_id = str(uuid.uuid4())
    payload = await media.put(png_photo(1), mime_type="image/png", kind="payload", job_id=job_id)
    doc = {
        "_id": job_id, "slot_id": "slot-001", "slot_version": 1, "provider": "gemini",
        "operation": Operation.IMAGE_EDIT.value, "settings": {}, "status": status,
        "attempt": 0, "payload": payload.model_dump(), "created_at": T0, "updated_at": T0,
        "expires_at": T0 + timedelta(seconds=48),
        "artifact_expires_at": T0 + timedelta(seconds=48), "artifacts_purged": False,
        **fields,
    }  # fmt: skip
    await JobRepository(db).insert(doc)
    return job_id


async def collect_status(consumer: AIOKafkaConsumer, job_ids: set[str]) -> list[dict[str, Any]]:
    """Status events for `job_ids` until each has one, bounded in time."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while {e["job_id"] for e in seen} != job_ids:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                seen.extend(
                    e for e in (json.loads(r.value) for r in records) if e["job_id"] in job_ids
                )
    return seen


async def test_an_overdue_job_times_out_and_its_status_is_published(
    db: Any, broker: Any, status_events: AIOKafkaConsumer
) -> None:
    clock = ManualClock(T0)
    job_id = await insert_job(db, status="processing")
    reaper = reaper_for(db, broker, clock)

    assert await reaper.expire_jobs() == 0  # not due yet
    clock.advance(49)
    assert await reaper.expire_jobs() == 1

    job = await db.jobs.find_one({"_id": job_id})
    assert job["status"] == "finalized" and job["outcome"] == "timeout"
    events = await collect_status(status_events, {job_id})
    assert [e["outcome"] for e in events] == ["timeout"]


async def test_two_reapers_in_parallel_finalize_each_job_once(
    db: Any, broker: Any, status_events: AIOKafkaConsumer
) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    job_ids = {await insert_job(db) for _ in range(12)}
    first, second = reaper_for(db, broker, clock), reaper_for(db, broker, clock)

    counts = await asyncio.gather(first.expire_jobs(), second.expire_jobs())

    assert sum(counts) == 12
    events = await collect_status(status_events, job_ids)
    assert len(events) == 12  # one status event per job, whoever finalized it
    logs = await db.processing_logs.count_documents({"event": "timeout"})
    assert logs == 12


async def test_payloads_go_once_the_job_is_final_and_templates_stay(db: Any, broker: Any) -> None:
    clock = ManualClock(T0 + timedelta(seconds=10))
    media = MediaStore(db)
    template = await media.put(png_photo(7), mime_type="image/png", kind="template")
    live = await insert_job(db, status="processing")
    final = await insert_job(db, status="finalized", outcome="succeeded")
    first, second = reaper_for(db, broker, clock), reaper_for(db, broker, clock)

    results = await asyncio.gather(first.purge_artifacts(), second.purge_artifacts())

    assert sum(payloads for payloads, _ in results) == 1
    final_doc = await db.jobs.find_one({"_id": final})
    live_doc = await db.jobs.find_one({"_id": live})
    assert final_doc["artifacts_purged"] is True
    assert await db["media.files"].count_documents({"_id": _oid(final_doc["payload"])}) == 0
    assert await db["media.files"].count_documents({"_id": _oid(live_doc["payload"])}) == 1
    assert (await media.ref(template.media_id)).size_bytes == template.size_bytes


async def test_expired_public_links_are_deleted(db: Any, broker: Any) -> None:
    clock = ManualClock(T0)
    media = MediaStore(db)
    ref = await media.put(png_photo(8), mime_type="image/png", kind="payload")
    expiring = await media.create_link(
        ref.media_id, expires_at=T0 + timedelta(seconds=30), job_id=None, now=T0
    )
    lasting = await media.create_link(
        ref.media_id, expires_at=T0 + timedelta(hours=1), job_id=None, now=T0
    )
    reaper = reaper_for(db, broker, clock)
    clock.advance(31)

    _, links = await reaper.purge_artifacts()

    assert links == 1
    assert await media.get_link(expiring.token) is None
    assert await media.get_link(lasting.token) is not None


async def test_results_are_deleted_after_retention_exactly_once(db: Any, broker: Any) -> None:
    clock = ManualClock(T0)
    media = MediaStore(db)
    result = await media.put(png_photo(9), mime_type="image/png", kind="result")
    job_id = await insert_job(
        db, status="finalized", outcome="succeeded", finalized_at=T0,
        result=result.model_dump(), result_expires_at=T0 + timedelta(hours=72),
    )  # fmt: skip
    first, second = reaper_for(db, broker, clock), reaper_for(db, broker, clock)

    assert await first.purge_results() == 0
    clock.advance(72 * 3600)
    deleted = await asyncio.gather(first.purge_results(), second.purge_results())

    assert sum(deleted) == 1
    job = await db.jobs.find_one({"_id": job_id})
    assert job["result"] is None and job["outcome"] == "succeeded"
    assert await db["media.files"].count_documents({"metadata.kind": "result"}) == 0


def _oid(ref: dict[str, Any]) -> Any:
    from bson import ObjectId

    return ObjectId(ref["media_id"])
