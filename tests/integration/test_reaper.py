"""The ttl-reaper's sweeps against the real broker and MongoDB-protocol server, with a
clock the tests move instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from photochanger_contracts import MediaRef, Operation, topics
from photochanger_runtime.broker import create_broker, ensure_topics
from photochanger_runtime.clock import ManualClock
from photochanger_runtime.expiry import Reaper
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.media import (
    FilesystemMediaStore,
    MediaStore,
    payload_key,
    result_key,
)
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.template_media import TemplateMediaCatalog
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
def media(tmp_path: Any) -> MediaStore:
    return FilesystemMediaStore(tmp_path / "media")


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


def reaper_for(db: Any, broker: Any, clock: ManualClock, media: MediaStore) -> Reaper:
    return Reaper(
        jobs=JobRepository(db), media=media, links=MediaLinks(db),
        templates=TemplateMediaCatalog(db, media), processing_log=ProcessingLog(db),
        broker=broker, clock=clock,
    )  # fmt: skip


async def stored(media: MediaStore, key: str, seed: int) -> MediaRef:
    obj = await media.put(key, png_photo(seed), content_type="image/png")
    return MediaRef(key=key, mime_type="image/png", size_bytes=obj.size_bytes, sha256=obj.sha256)


async def insert_job(db: Any, media: MediaStore, *, status: str = "pending", **fields: Any) -> str:
    job_id = str(uuid.uuid4())
    payload = await stored(media, payload_key(job_id, T0 + timedelta(seconds=48)), 1)
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
    db: Any, broker: Any, status_events: AIOKafkaConsumer, media: MediaStore
) -> None:
    clock = ManualClock(T0)
    job_id = await insert_job(db, media, status="processing")
    reaper = reaper_for(db, broker, clock, media)

    assert await reaper.expire_jobs() == 0  # not due yet
    clock.advance(49)
    assert await reaper.expire_jobs() == 1

    job = await db.jobs.find_one({"_id": job_id})
    assert job["status"] == "finalized" and job["outcome"] == "timeout"
    events = await collect_status(status_events, {job_id})
    assert [e["outcome"] for e in events] == ["timeout"]


async def test_two_reapers_in_parallel_finalize_each_job_once(
    db: Any, broker: Any, status_events: AIOKafkaConsumer, media: MediaStore
) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    job_ids = {await insert_job(db, media) for _ in range(12)}
    first, second = reaper_for(db, broker, clock, media), reaper_for(db, broker, clock, media)

    counts = await asyncio.gather(first.expire_jobs(), second.expire_jobs())

    assert sum(counts) == 12
    events = await collect_status(status_events, job_ids)
    assert len(events) == 12  # one status event per job, whoever finalized it
    logs = await db.processing_logs.count_documents({"event": "timeout"})
    assert logs == 12


async def test_payloads_go_once_the_job_is_final_and_templates_stay(
    db: Any, broker: Any, media: MediaStore
) -> None:
    clock = ManualClock(T0 + timedelta(seconds=10))
    catalog = TemplateMediaCatalog(db, media)
    template_id, key = catalog.new_key()
    template = await catalog.register(
        template_id, await media.put(key, png_photo(7), content_type="image/png"),
        mime_type="image/png", filename=None, by="test", now=T0,
    )  # fmt: skip
    live = await insert_job(db, media, status="processing")
    final = await insert_job(db, media, status="finalized", outcome="succeeded")
    first, second = reaper_for(db, broker, clock, media), reaper_for(db, broker, clock, media)

    results = await asyncio.gather(first.purge_artifacts(), second.purge_artifacts())

    assert sum(payloads for payloads, _ in results) == 1
    final_doc = await db.jobs.find_one({"_id": final})
    live_doc = await db.jobs.find_one({"_id": live})
    assert final_doc["artifacts_purged"] is True
    assert await media.stat(final_doc["payload"]["key"]) is None
    assert await media.stat(live_doc["payload"]["key"]) is not None
    assert await media.read(template.key) == png_photo(7)


async def test_expired_public_links_are_deleted(db: Any, broker: Any, media: MediaStore) -> None:
    clock = ManualClock(T0)
    links = MediaLinks(db)
    ref = await stored(media, payload_key("j", T0), 8)
    expiring = await links.create(
        ref.key, mime_type=ref.mime_type, expires_at=T0 + timedelta(seconds=30), job_id=None,
        now=T0,
    )  # fmt: skip
    lasting = await links.create(
        ref.key, mime_type=ref.mime_type, expires_at=T0 + timedelta(hours=1), job_id=None, now=T0
    )
    reaper = reaper_for(db, broker, clock, media)
    clock.advance(31)

    _, deleted = await reaper.purge_artifacts()

    assert deleted == 1
    assert await links.get(expiring.token) is None
    assert await links.get(lasting.token) is not None


async def test_results_are_deleted_after_retention_exactly_once(
    db: Any, broker: Any, media: MediaStore
) -> None:
    clock = ManualClock(T0)
    expires = T0 + timedelta(hours=72)
    result = await stored(media, result_key("r", "a1", expires), 9)
    job_id = await insert_job(
        db, media, status="finalized", outcome="succeeded", finalized_at=T0,
        result=result.model_dump(), result_expires_at=expires,
    )  # fmt: skip
    first, second = reaper_for(db, broker, clock, media), reaper_for(db, broker, clock, media)

    assert await first.purge_results() == 0
    clock.advance(72 * 3600)
    deleted = await asyncio.gather(first.purge_results(), second.purge_results())

    assert sum(deleted) == 1
    job = await db.jobs.find_one({"_id": job_id})
    assert job["result"] is None and job["outcome"] == "succeeded"
    assert await media.stat(result.key) is None


async def test_orphaned_bytes_go_with_their_expired_bucket_and_nothing_alive_does(
    db: Any, broker: Any, media: MediaStore
) -> None:
    """Bytes whose writer died before recording them are deleted once their bucket's hour
    and the grace period have passed; live objects and known templates stay."""
    now = T0 + timedelta(hours=3)
    clock = ManualClock(now)
    old_payload = await stored(media, payload_key("dead-writer", T0), 1)
    old_result = await stored(media, result_key("dead", "a", T0 + timedelta(minutes=30)), 2)
    live_payload = await stored(media, payload_key("alive", now + timedelta(seconds=48)), 3)
    live_result = await stored(media, result_key("alive", "a", now + timedelta(hours=72)), 4)
    catalog = TemplateMediaCatalog(db, media)
    template_id, key = catalog.new_key()
    await catalog.register(
        template_id, await media.put(key, png_photo(5), content_type="image/png"),
        mime_type="image/png", filename=None, by="test", now=T0,
    )  # fmt: skip
    _, unknown_template = catalog.new_key()
    await media.put(unknown_template, png_photo(6), content_type="image/png")
    _, fresh_unknown = catalog.new_key()
    await media.put(fresh_unknown, png_photo(7), content_type="image/png")
    assert isinstance(media, FilesystemMediaStore)
    os.utime(media.root / unknown_template, (T0.timestamp(), T0.timestamp()))
    os.utime(media.root / fresh_unknown, ((now.timestamp(),) * 2))
    reaper = reaper_for(db, broker, clock, media)

    deleted = await reaper.sweep_orphans()

    assert await media.stat(old_payload.key) is None
    assert await media.stat(old_result.key) is None
    assert await media.stat(live_payload.key) is not None
    assert await media.stat(live_result.key) is not None
    assert await media.stat(key) is not None
    assert await media.stat(unknown_template) is None
    assert await media.stat(fresh_unknown) is not None  # may be a registration in progress
    assert deleted == 3
