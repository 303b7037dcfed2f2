"""The ttl-reaper's sweeps against the real broker, the real MongoDB-protocol server and a
filesystem media store, with a clock the tests move instead of sleeping."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from photochanger_contracts import JobCancelRequested, JobStatusChanged, MediaRef, topics
from photochanger_runtime import mongo
from photochanger_runtime.clock import ManualClock
from photochanger_runtime.configuration.template_media import TemplateMediaCatalog
from photochanger_runtime.expiry import JobExpiry, MediaExpiry
from photochanger_runtime.jobs import JobTransitions, machine
from photochanger_runtime.jobs.mongo_store import MongoJobStore
from photochanger_runtime.media import FilesystemMediaStore, payload_key, result_key
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.messaging.broker import KafkaEventBus, create_broker, ensure_topics
from prometheus_client import REGISTRY

from tests.support.images import png_photo
from tests.support.jobs import T0, spec

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(mongodb_uri: str) -> AsyncIterator[Any]:
    client = mongo.create_client(mongodb_uri, app_name="reaper-test")
    name = f"reaper_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
def media(tmp_path: Path) -> FilesystemMediaStore:
    return FilesystemMediaStore(tmp_path / "media")


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaEventBus]:
    await ensure_topics(
        kafka_bootstrap, topics.all_topics(("gemini",)), partitions=3, replication_factor=1
    )
    broker = create_broker(kafka_bootstrap, client_id="reaper-test")
    events = KafkaEventBus(
        broker, {topics.JOBS_STATUS: JobStatusChanged, topics.JOBS_CANCEL: JobCancelRequested}
    )
    await broker.start()
    try:
        yield events
    finally:
        await broker.stop()


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


def job_expiry(db: Any, bus: KafkaEventBus, clock: ManualClock, media: Any) -> JobExpiry:
    store = MongoJobStore(db)
    transitions = JobTransitions(store=store, bus=bus, media=media, clock=clock)
    return JobExpiry(store=store, transitions=transitions, clock=clock)


def media_expiry(db: Any, clock: ManualClock, media: FilesystemMediaStore) -> MediaExpiry:
    return MediaExpiry(
        media=media, links=MediaLinks(db), templates=TemplateMediaCatalog(db, media), clock=clock
    )


async def stored(media: FilesystemMediaStore, key: str, seed: int) -> MediaRef:
    obj = await media.put(key, png_photo(seed), content_type="image/png")
    return MediaRef(key=key, mime_type="image/png", size_bytes=obj.size_bytes, sha256=obj.sha256)


async def live_job(db: Any, media: FilesystemMediaStore, *, claimed: bool = False) -> str:
    """A live job as the api records it, optionally claimed by a worker."""
    created = spec()
    await media.put(created.payload.key, png_photo(1), content_type="image/jpeg")
    store = MongoJobStore(db)
    job = machine.create(created, now=T0).job
    await store.create(job)
    if claimed:
        from photochanger_runtime.jobs import Claim

        await store.claim(Claim(job.id, 1, "gone", "gemini", T0))
    return job.id


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


async def test_an_overdue_job_times_out_its_status_is_published_and_it_is_tidied(
    db: Any, bus: KafkaEventBus, status_events: AIOKafkaConsumer, media: FilesystemMediaStore
) -> None:
    clock = ManualClock(T0)
    job_id = await live_job(db, media, claimed=True)
    expiry = job_expiry(db, bus, clock, media)

    assert await expiry.expire_jobs() == 0  # not due yet
    clock.advance(49)
    assert await expiry.expire_jobs() == 1

    final = await db.jobs.find_one({"_id": job_id})
    assert final["status"] == "finalized" and final["outcome"] == "timeout"
    assert [e["event"] for e in final["log"]] == ["created", "timeout"]
    assert await db.jobs_live.find_one({"_id": job_id}) is None
    assert await media.stat(final["payload"]["key"]) is None
    events = await collect_status(status_events, {job_id})
    assert [e["outcome"] for e in events] == ["timeout"]


async def test_two_reapers_in_parallel_finalize_each_job_once(
    db: Any, bus: KafkaEventBus, status_events: AIOKafkaConsumer, media: FilesystemMediaStore
) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    job_ids = {await live_job(db, media) for _ in range(12)}
    first, second = job_expiry(db, bus, clock, media), job_expiry(db, bus, clock, media)

    counts = await asyncio.gather(first.expire_jobs(), second.expire_jobs())

    assert sum(counts) == 12
    events = await collect_status(status_events, job_ids)
    assert len(events) == 12  # one status event per job, whoever finalized it
    assert await db.jobs.count_documents({"outcome": "timeout"}) == 12
    assert await db.jobs_live.count_documents({}) == 0


async def test_a_final_job_whose_finalizer_died_before_tidying_is_tidied(
    db: Any, bus: KafkaEventBus, media: FilesystemMediaStore
) -> None:
    clock = ManualClock(T0 + timedelta(minutes=5))
    job_id = await live_job(db, media)
    store = MongoJobStore(db)
    job = await store.live(job_id)
    assert job is not None
    # the final record was written, then its writer stopped
    await store.finalize(machine.finalize(job, machine.Transition.FAIL, now=T0, finalizer="x").job)

    assert await job_expiry(db, bus, clock, media).expire_jobs() == 0
    assert await store.live(job_id) is None
    assert await media.stat(job.payload.key) is None


async def test_photos_and_results_go_with_their_expired_bucket_and_nothing_alive_does(
    db: Any, media: FilesystemMediaStore
) -> None:
    """Bytes are deleted once their expiry bucket is over — whether or not any record points
    to them (a writer that died before recording them) — and live objects stay."""
    now = T0 + timedelta(hours=3)
    clock = ManualClock(now)
    old_payload = await stored(media, payload_key("dead-writer", T0), 1)
    old_result = await stored(media, result_key("done", "1", T0 + timedelta(minutes=30)), 2)
    live_payload = await stored(media, payload_key("alive", now + timedelta(seconds=48)), 3)
    live_result = await stored(media, result_key("alive", "1", now + timedelta(hours=72)), 4)
    expiry = media_expiry(db, clock, media)

    pending = await expiry.pending_media()
    assert (pending.payloads_deleted, pending.results_deleted) == (1, 1)
    first, second = await asyncio.gather(expiry.purge_buckets(), expiry.purge_buckets())

    assert (first[0] + second[0], first[1] + second[1]) == (1, 1)  # each deleted once
    assert await media.stat(old_payload.key) is None
    assert await media.stat(old_result.key) is None
    assert await media.stat(live_payload.key) is not None
    assert await media.stat(live_result.key) is not None


async def test_a_bucket_is_kept_until_it_is_over(db: Any, media: FilesystemMediaStore) -> None:
    expires = T0 + timedelta(minutes=5)
    result = await stored(media, result_key("j", "1", expires), 5)
    clock = ManualClock(expires + timedelta(minutes=1))  # expired, but its bucket is not over
    expiry = media_expiry(db, clock, media)
    assert await expiry.purge_buckets() == (0, 0)
    assert _reaper_lag("results") == 0  # nothing due yet
    clock.advance(10 * 60)
    assert await expiry.purge_buckets() == (0, 1)
    assert await media.stat(result.key) is None
    # the sweep reports how long the bucket had been due (the reaper-lag alert watches it)
    assert 0 < _reaper_lag("results") <= 10 * 60


def _reaper_lag(kind: str) -> float:
    value = REGISTRY.get_sample_value("photochanger_reaper_lag_seconds", {"kind": kind})
    assert value is not None
    return value


async def test_expired_public_links_are_deleted(db: Any, media: FilesystemMediaStore) -> None:
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
    expiry = media_expiry(db, clock, media)
    clock.advance(31)

    assert await expiry.purge_links() == 1
    assert await links.get(expiring.token) is None
    assert await links.get(lasting.token) is not None


async def test_templates_nobody_registered_go_after_an_hour_and_known_ones_stay(
    db: Any, media: FilesystemMediaStore
) -> None:
    clock = ManualClock(T0 + timedelta(hours=3))
    catalog = TemplateMediaCatalog(db, media)
    template_id, key = catalog.new_key()
    await catalog.register(
        template_id, await media.put(key, png_photo(5), content_type="image/png"),
        mime_type="image/png", filename=None, by="test", now=T0,
    )  # fmt: skip
    _, unknown = catalog.new_key()
    await media.put(unknown, png_photo(6), content_type="image/png")
    _, fresh_unknown = catalog.new_key()
    await media.put(fresh_unknown, png_photo(7), content_type="image/png")
    os.utime(media.root / unknown, (T0.timestamp(), T0.timestamp()))
    os.utime(media.root / fresh_unknown, ((clock.now().timestamp(),) * 2))

    assert await media_expiry(db, clock, media).purge_unknown_templates() == 1
    assert await media.stat(key) is not None
    assert await media.stat(unknown) is None
    assert await media.stat(fresh_unknown) is not None  # may be a registration in progress


async def test_client_records_go_when_they_expire_and_not_before(db: Any) -> None:
    from photochanger_runtime.expiry import ClientRecordExpiry

    clock = ManualClock(T0)
    past, future = T0 - timedelta(seconds=1), T0 + timedelta(hours=1)
    await db.idempotency_keys.insert_many(
        [{"_id": "old", "expires_at": past}, {"_id": "new", "expires_at": future}]
    )
    await db.webhook_deliveries.insert_many(
        [
            {"_id": "done", "state": "delivered", "expires_at": past},
            {"_id": "retrying", "state": "pending", "expires_at": past},
            {"_id": "kept", "state": "failed", "expires_at": future},
        ]
    )
    await db.webhook_attempts.insert_many(
        [{"_id": "a@1", "at": T0 - timedelta(days=5)}, {"_id": "b@1", "at": T0}]
    )

    removed = await ClientRecordExpiry(db, clock).sweep_client_records()

    assert removed == 3
    assert [d["_id"] async for d in db.idempotency_keys.find()] == ["new"]
    assert {d["_id"] async for d in db.webhook_deliveries.find()} == {"retrying", "kept"}
    assert [d["_id"] async for d in db.webhook_attempts.find()] == ["b@1"]
