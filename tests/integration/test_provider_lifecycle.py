"""The shared provider lifecycle against the real MongoDB-protocol server.

The adapter here is a scripted stand-in for the protocol (no HTTP): these tests are about the
runtime's state machine — claims, retries, late results, cancellation — not about a provider's
wire format, which the emulator-backed end-to-end tests cover."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from photochanger_contracts import JobOutcome as Outcome
from photochanger_contracts import (
    JobStatusChanged,
    MediaRef,
    Operation,
    PollResult,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    ProviderJobRequested,
    ProviderResult,
    Submission,
)
from photochanger_runtime.clock import SystemClock
from photochanger_runtime.job_repository import JobError, JobRepository
from photochanger_runtime.media import payload_key
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.media.memory import InMemoryMediaStore
from photochanger_runtime.platform_settings import PlatformSettingsRepository
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.lifecycle import LifecycleDeps, ProviderJobRunner
from photochanger_runtime.providers.limits import RateLimiter
from photochanger_runtime.providers.worker import ProviderWorker
from photochanger_runtime.template_media import TemplateMediaCatalog
from pymongo import AsyncMongoClient

from tests.support.images import png_photo
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

RESULT = png_photo(99)


class ScriptedAdapter:
    """Answers from a script: each submit pops the next step (an exception or a result)."""

    provider_id = "scripted"
    needs_public_urls = False
    accepted_mime_types = frozenset({"image/png", "image/jpeg"})
    poll_interval_seconds = 0.01

    def __init__(
        self,
        *steps: Any,
        polls_until_done: int = 0,
        poll_errors: tuple[Exception, ...] = (),
        provider_id: str = "scripted",
    ) -> None:
        self.provider_id = provider_id
        self.steps = list(steps)
        self.poll_errors = list(poll_errors)
        self.submits = 0
        self.polls = 0
        self.cancels: list[str] = []
        self.polls_until_done = polls_until_done
        self.release = asyncio.Event()
        self.release.set()

    async def prepare_payload(self, job: ProviderInput) -> Any:
        return job.photo.data

    async def submit_job(self, prepared: Any, *, timeout: float) -> Submission:
        self.submits += 1
        await self.release.wait()
        step = self.steps.pop(0) if self.steps else "ok"
        if isinstance(step, Exception):
            raise step
        if step == "queued":
            return Submission(reference=f"ref-{self.submits}")
        return Submission(result=ProviderResult(data=RESULT))

    async def poll_status(self, reference: str, *, timeout: float) -> PollResult:
        self.polls += 1
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        if self.polls_until_done and self.polls >= self.polls_until_done:
            return PollResult(done=True, result=ProviderResult(data=RESULT))
        return PollResult(done=False)

    async def cancel_job(self, reference: str) -> None:
        self.cancels.append(reference)


@pytest.fixture
async def db(mongodb_uri: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    name = f"lifecycle_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def _nowhere(event: ProviderJobRequested) -> None:
    raise AssertionError(f"unexpected fallback request {event}")


class Harness:
    def __init__(
        self,
        db: Any,
        adapter: ScriptedAdapter,
        request_provider: Callable[[ProviderJobRequested], Awaitable[None]] | None = None,
        log: ProcessingLog | None = None,
        media: InMemoryMediaStore | None = None,
    ) -> None:
        self.db = db
        self.adapter = adapter
        self.events: list[JobStatusChanged] = []
        self.jobs = JobRepository(db)
        self.media = media or InMemoryMediaStore()

        async def publish(event: JobStatusChanged) -> None:
            self.events.append(event)

        self.deps = LifecycleDeps(
            jobs=self.jobs,
            log=log or ProcessingLog(db),
            media=self.media,
            links=MediaLinks(db),
            templates=TemplateMediaCatalog(db, self.media),
            platform_settings=PlatformSettingsRepository(db),
            publish_status=publish,
            clock=SystemClock(),
            public_base_url="http://127.0.0.1:1",
            request_provider=request_provider or _nowhere,
        )
        config = ProviderConfig(
            provider_id=adapter.provider_id, base_url="http://127.0.0.1:1", min_attempt_seconds=0.1
        )
        runner = ProviderJobRunner(adapter, config, self.deps, RateLimiter(6000))
        self.worker = ProviderWorker(
            runner, self.deps, max_concurrent_jobs=4, lease_seconds=1.0,
            recovery_interval_seconds=0.1,
        )  # fmt: skip

    async def new_job(
        self,
        *,
        seconds: float = 30,
        retry: int = 1,
        settings: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        job_id = str(uuid.uuid4())
        photo = png_photo(1)
        now = SystemClock().now()
        key = payload_key(job_id, now + timedelta(seconds=seconds))
        stored = await self.media.put(key, photo, content_type="image/png")
        payload = MediaRef(
            key=key, mime_type="image/png", size_bytes=stored.size_bytes, sha256=stored.sha256
        )
        await self.jobs.insert(
            {
                "_id": job_id, "slot_id": "slot-001", "slot_version": 1,
                "provider": self.adapter.provider_id, "operation": Operation.IMAGE_EDIT.value,
                "settings": {"prompt": "p", "retry_policy": {"max_attempts": retry,
                                                             "backoff_seconds": 0.05},
                             **(settings or {})},
                "status": "pending", "attempt": 0, "payload": payload.model_dump(),
                "created_at": now, "updated_at": now,
                "expires_at": now + timedelta(seconds=seconds),
                "artifact_expires_at": now + timedelta(seconds=seconds),
                **extra,
            }
        )  # fmt: skip
        return job_id

    async def request(self, job_id: str) -> None:
        job = await self.jobs.get(job_id)
        assert job is not None and job.payload is not None
        await self.worker.on_job_requested(
            ProviderJobRequested(
                occurred_at=datetime.now(UTC), job_id=job_id, slot_id=job.slot_id,
                provider=job.provider, operation=job.operation, settings=job.settings,
                payload=MediaRef.model_validate(job.payload.model_dump()),
                expires_at=job.expires_at,
            )
        )  # fmt: skip

    async def final(self, job_id: str) -> Any:
        async def done() -> Any:
            job = await self.jobs.get(job_id)
            return job if job is not None and job.is_final and not self.worker.in_flight else None

        return await eventually(done, timeout=15, what="the job to be final")

    async def events_of(self, job_id: str) -> list[str]:
        return [e.event for e in await self.deps.log.for_job(job_id)]


async def test_success_stores_the_result_and_publishes_one_status(db: Any) -> None:
    h = Harness(db, ScriptedAdapter("ok"))
    job_id = await h.new_job()
    await h.request(job_id)
    job = await h.final(job_id)

    assert job.outcome is Outcome.SUCCEEDED
    assert job.result is not None and job.result.mime_type == "image/png"
    assert await h.media.read(job.result.key) == RESULT
    assert job.result_expires_at - job.finalized_at == timedelta(hours=72)
    assert [e.outcome for e in h.events] == [Outcome.SUCCEEDED]


async def test_a_redelivered_request_does_not_submit_twice(db: Any) -> None:
    adapter = ScriptedAdapter("queued", polls_until_done=3)
    h = Harness(db, adapter)
    job_id = await h.new_job()
    await h.request(job_id)
    await h.request(job_id)  # duplicate delivery while running
    await h.final(job_id)
    await h.request(job_id)  # duplicate delivery after the end
    assert adapter.submits == 1
    assert (await h.events_of(job_id)).count("claimed") == 1


async def test_retryable_errors_are_retried_within_the_policy(db: Any) -> None:
    flaky = ProviderError(ProviderErrorCode.UNAVAILABLE, "503", retryable=True)
    adapter = ScriptedAdapter(flaky, "ok")
    h = Harness(db, adapter)
    job_id = await h.new_job(retry=2)
    await h.request(job_id)
    job = await h.final(job_id)
    assert job.outcome is Outcome.SUCCEEDED and adapter.submits == 2
    assert "retry_scheduled" in await h.events_of(job_id)


async def test_non_retryable_errors_end_the_job_as_provider_error(db: Any) -> None:
    rejected = ProviderError(ProviderErrorCode.REJECTED, "bad request", http_status=400)
    adapter = ScriptedAdapter(rejected, "ok")
    h = Harness(db, adapter)
    job_id = await h.new_job(retry=3)
    await h.request(job_id)
    job = await h.final(job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and adapter.submits == 1
    assert job.error.code == "provider_rejected"


async def test_no_retry_starts_when_the_deadline_has_no_room(db: Any) -> None:
    slow = ProviderError(
        ProviderErrorCode.QUOTA_EXHAUSTED, "429", retryable=True, retry_after_seconds=60
    )
    adapter = ScriptedAdapter(slow, "ok")
    h = Harness(db, adapter)
    job_id = await h.new_job(retry=3, seconds=10)
    await h.request(job_id)
    job = await h.final(job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and adapter.submits == 1


async def test_late_result_after_timeout_is_ignored(db: Any) -> None:
    adapter = ScriptedAdapter("ok")
    adapter.release.clear()  # the provider answers only when the test says so
    h = Harness(db, adapter)
    job_id = await h.new_job()
    await h.request(job_id)
    await eventually(lambda: asyncio.sleep(0, adapter.submits), what="the submission")
    # the api's deadline fires first
    await h.jobs.finalize(
        job_id, Outcome.TIMEOUT, now=SystemClock().now(),
        error=JobError(code="deadline_exceeded", message="late"),
    )  # fmt: skip
    adapter.release.set()
    await eventually(lambda: _has(h, job_id, "late_result_ignored"), what="the late result")
    job = await h.jobs.get(job_id)
    assert job is not None and job.outcome is Outcome.TIMEOUT and job.result is None
    assert [k for k in h.media.objects if k.startswith("results/")] == []  # discarded
    assert h.events == []


async def _has(h: Harness, job_id: str, event: str) -> bool:
    return event in await h.events_of(job_id)


async def test_deadline_stops_polling_and_cancels_at_the_provider(db: Any) -> None:
    adapter = ScriptedAdapter("queued")  # never done
    h = Harness(db, adapter)
    job_id = await h.new_job(seconds=1.5)
    await h.request(job_id)
    job = await h.final(job_id)
    assert job.outcome is Outcome.TIMEOUT
    assert adapter.cancels == ["ref-1"]
    polls = adapter.polls
    assert h.worker.in_flight == 0 and adapter.polls == polls


async def test_cancel_request_reaches_in_flight_work(db: Any) -> None:
    from photochanger_contracts import JobCancelRequested

    adapter = ScriptedAdapter("queued")
    h = Harness(db, adapter)
    job_id = await h.new_job()
    await h.request(job_id)
    await eventually(lambda: asyncio.sleep(0, adapter.polls), what="the first poll")
    started = asyncio.get_running_loop().time()
    await h.worker.on_cancel_requested(
        JobCancelRequested(occurred_at=datetime.now(UTC), job_id=job_id, reason="admin")
    )
    job = await h.final(job_id)
    assert job.outcome is Outcome.CANCELLED
    assert asyncio.get_running_loop().time() - started < 1.0
    assert adapter.cancels == ["ref-1"]


async def test_an_orphaned_job_is_resumed_from_its_reference(db: Any) -> None:
    adapter = ScriptedAdapter(polls_until_done=2)
    h = Harness(db, adapter)
    past = SystemClock().now() - timedelta(seconds=5)
    job_id = await h.new_job(
        status="processing", attempt=1, attempt_id="dead", worker_id="gone",
        lease_expires_at=past, provider_job_reference="ref-77",
    )  # fmt: skip
    assert await h.worker.recover_once() == 1
    job = await h.final(job_id)
    assert job.outcome is Outcome.SUCCEEDED
    assert adapter.submits == 0 and adapter.polls == 2
    assert "resumed" in await h.events_of(job_id)


async def test_a_failed_poll_is_retried_without_a_second_submission(db: Any) -> None:
    blip = ProviderError(ProviderErrorCode.UNAVAILABLE, "502 from the provider", retryable=True)
    adapter = ScriptedAdapter("queued", polls_until_done=3, poll_errors=(blip,))
    h = Harness(db, adapter)
    job_id = await h.new_job(retry=3)
    await h.request(job_id)
    job = await h.final(job_id)
    assert job.outcome is Outcome.SUCCEEDED
    assert adapter.submits == 1
    assert "poll_failed" in await h.events_of(job_id)


async def test_a_failed_remote_job_is_not_submitted_again(db: Any) -> None:
    failed = ProviderError(ProviderErrorCode.JOB_FAILED, "queue failed")
    adapter = ScriptedAdapter("queued", poll_errors=(failed,))
    h = Harness(db, adapter)
    job_id = await h.new_job(retry=3)
    await h.request(job_id)
    job = await h.final(job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and adapter.submits == 1


async def test_a_quota_error_hands_the_job_to_the_fallback_provider(db: Any) -> None:
    quota = ProviderError(ProviderErrorCode.QUOTA_EXHAUSTED, "429", retryable=True)
    backup = Harness(db, ScriptedAdapter("ok", provider_id="turbotext"))

    async def to_backup(event: ProviderJobRequested) -> None:
        assert event.provider == "turbotext"
        await backup.worker.on_job_requested(event)

    # one log for both, as in one process: entries of the same millisecond keep their order
    primary = Harness(
        db, ScriptedAdapter(quota, provider_id="gemini"), to_backup, log=backup.deps.log,
        media=backup.media,
    )  # fmt: skip
    fallback = {"provider": "turbotext", "operation": "image_edit", "settings": {"prompt": "b"}}
    job_id = await primary.new_job(settings={"fallback": fallback})
    await primary.request(job_id)
    job = await backup.final(job_id)

    assert job.outcome is Outcome.SUCCEEDED
    assert job.provider == "turbotext" and job.fallback_from == "gemini"
    assert primary.adapter.submits == 1 and backup.adapter.submits == 1
    events = await primary.events_of(job_id)
    assert events.index("fallback") < events.index("taken_over") < events.index("succeeded")


async def test_a_non_retryable_error_does_not_use_the_fallback(db: Any) -> None:
    rejected = ProviderError(ProviderErrorCode.REJECTED, "400")
    primary = Harness(db, ScriptedAdapter(rejected, provider_id="gemini"))
    fallback = {"provider": "turbotext", "operation": "image_edit", "settings": {"prompt": "b"}}
    job_id = await primary.new_job(settings={"fallback": fallback})
    await primary.request(job_id)
    job = await primary.final(job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and job.provider == "gemini"
