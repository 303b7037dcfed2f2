"""The dispatcher's routing and rejections on the real broker and database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from photochanger_contracts import JobCreated, MediaRef, Operation, topics
from photochanger_dispatcher.handlers import Dispatcher
from photochanger_runtime.broker import create_broker, ensure_topics
from photochanger_runtime.clock import SystemClock
from photochanger_runtime.config import repository_root
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.media.memory import InMemoryMediaStore
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.template_media import TemplateMediaCatalog
from pymongo import AsyncMongoClient

from tests.integration.test_reaper import T0, collect_status, status_events  # noqa: F401
from tests.support.images import png_photo

pytestmark = pytest.mark.integration


@pytest.fixture
async def dispatcher(mongodb_uri: str, kafka_bootstrap: str) -> AsyncIterator[Dispatcher]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    db = client[f"dispatch_{uuid.uuid4().hex[:8]}"]
    await ensure_topics(
        kafka_bootstrap, topics.all_topics(("gemini", "turbotext")), partitions=3,
        replication_factor=1,
    )  # fmt: skip
    broker = create_broker(kafka_bootstrap, client_id="dispatcher-test")
    await broker.start()
    try:
        yield Dispatcher(
            jobs=JobRepository(db), templates=TemplateMediaCatalog(db, InMemoryMediaStore()),
            processing_log=ProcessingLog(db),
            catalog=load_catalog(repository_root() / "configs" / "providers.json", {}),
            broker=broker, clock=SystemClock(),
        )  # fmt: skip
    finally:
        await broker.stop()
        await client.drop_database(db.name)
        await client.close()


async def _job(d: Dispatcher, provider: str, settings: dict[str, Any]) -> JobCreated:
    job_id = str(uuid.uuid4())
    now = d.clock.now()
    payload = MediaRef(key=f"payloads/x/{job_id}", mime_type="image/png", size_bytes=9, sha256="0")
    await d.jobs.insert(
        {
            "_id": job_id, "slot_id": "slot-001", "slot_version": 1, "provider": provider,
            "operation": "image_edit", "settings": settings, "status": "pending",
            "payload": payload.model_dump(), "created_at": now, "updated_at": now,
            "expires_at": now + timedelta(seconds=48),
            "artifact_expires_at": now + timedelta(seconds=48),
        }
    )  # fmt: skip
    return JobCreated(
        occurred_at=now, job_id=job_id, slot_id="slot-001", provider=provider,
        operation=Operation.IMAGE_EDIT, created_at=now, expires_at=now + timedelta(seconds=48),
    )  # fmt: skip


async def test_unknown_provider_finalizes_the_job_with_a_reason(
    dispatcher: Dispatcher,
    status_events: Any,  # noqa: F811
) -> None:
    event = await _job(dispatcher, "dalle", {"prompt": "x"})
    await dispatcher.on_job_created(event)
    job = await dispatcher.jobs.get(event.job_id)
    assert job is not None and job.outcome is not None
    assert job.outcome.value == "provider_error" and job.error is not None
    assert job.error.code == "unknown_provider"
    [status] = await collect_status(status_events, {event.job_id})
    assert status["outcome"] == "provider_error"


async def test_missing_template_media_is_rejected(dispatcher: Dispatcher) -> None:
    settings = {"prompt": "x", "template_media": [{"role": "style", "media_id": "0" * 24}]}
    event = await _job(dispatcher, "gemini", settings)
    await dispatcher.on_job_created(event)
    job = await dispatcher.jobs.get(event.job_id)
    assert job is not None and job.error is not None
    assert job.error.code == "invalid_slot_settings" and "does not exist" in job.error.message


async def test_a_valid_job_gets_its_templates_pinned_and_is_routed_once(
    dispatcher: Dispatcher,
) -> None:
    catalog = dispatcher.templates
    template_id, key = catalog.new_key()
    stored = await InMemoryMediaStore().put(key, png_photo(4), content_type="image/png")
    template = await catalog.register(
        template_id, stored, mime_type="image/png", filename=None, by="test", now=T0
    )
    settings = {"prompt": "x", "template_media": [{"role": "style", "media_id": template.id}]}
    event = await _job(dispatcher, "gemini", settings)
    await dispatcher.on_job_created(event)
    await dispatcher.on_job_created(event)  # duplicate delivery
    job = await dispatcher.jobs.get(event.job_id)
    assert job is not None and job.status.value == "pending"
    assert [t.media for t in job.templates] == [template.ref]
    entries = await dispatcher.processing_log.for_job(event.job_id)
    assert [e.event for e in entries] == ["dispatched"]
