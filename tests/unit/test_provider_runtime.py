"""The shared provider lifecycle, on the in-memory job and media stores.

The adapter here is a scripted stand-in for the protocol (no HTTP): these tests are about the
runtime's state machine — claims, retries, late results, cancellation, take-over, fallback —
not about a provider's wire format, which the emulator-backed end-to-end tests cover."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from photochanger_contracts import (
    JobCancelRequested,
    JobStatusChanged,
    PollResult,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    ProviderJobRequested,
    ProviderResult,
    Submission,
    topics,
)
from photochanger_contracts import JobOutcome as Outcome
from photochanger_runtime.clock import Clock, ManualClock, SystemClock
from photochanger_runtime.configuration.platform_settings import PlatformSettings
from photochanger_runtime.jobs import (
    Claim,
    Job,
    JobError,
    JobTransitions,
    Transition,
    WorkerPresence,
)
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from photochanger_runtime.media import MediaUnavailable
from photochanger_runtime.media.links import InMemoryMediaLinks
from photochanger_runtime.media.memory import InMemoryMediaStore
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.lifecycle import LifecycleDeps, ProviderJobRunner
from photochanger_runtime.providers.limits import LocalAdmission, RateLimiter
from photochanger_runtime.providers.worker import ProviderWorker
from pymongo.errors import AutoReconnect

from tests.support.images import png_photo
from tests.support.jobs import RecordingBus, spec
from tests.support.waiting import eventually

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
        if step == "with-usage":
            usage = {"input_tokens": 520, "output_tokens": 4160, "note": "text", "flag": True}
            return Submission(result=ProviderResult(data=RESULT, usage=usage))  # type: ignore[arg-type]
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


class Settings:
    """Platform settings as the runtime reads them (retention only)."""

    async def get(self) -> PlatformSettings:
        return PlatformSettings()


class Harness:
    def __init__(
        self,
        adapter: ScriptedAdapter,
        *,
        store: InMemoryJobStore | None = None,
        media: InMemoryMediaStore | None = None,
        bus: RecordingBus | None = None,
        on_request: Callable[[ProviderJobRequested], Awaitable[None]] | None = None,
        config: ProviderConfig | None = None,
        links: InMemoryMediaLinks | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.adapter = adapter
        self.store = store or InMemoryJobStore()
        self.media = media or InMemoryMediaStore()
        self.bus = bus or RecordingBus()
        self.on_request = on_request
        clock = clock or SystemClock()
        self.transitions = JobTransitions(store=self.store, bus=self, media=self.media, clock=clock)
        self.deps = LifecycleDeps(
            transitions=self.transitions, media=self.media, links=links or InMemoryMediaLinks(),
            templates=None,  # type: ignore[arg-type]  # no fallback with templates here
            platform_settings=Settings(),  # type: ignore[arg-type]
            clock=clock, public_base_url="http://127.0.0.1:1",
        )  # fmt: skip
        config = config or ProviderConfig(
            provider_id=adapter.provider_id, base_url="http://127.0.0.1:1", min_attempt_seconds=0.1
        )
        self.admission = LocalAdmission(RateLimiter(6000), now=clock.now)
        runner = ProviderJobRunner(adapter, config, self.deps, self.admission)
        self.worker = ProviderWorker(
            runner, self.deps, self.store, max_concurrent_jobs=4, lease_seconds=1.0,
            recovery_interval_seconds=0.1,
        )  # fmt: skip

    async def publish(self, topic: str, event: Any, *, key: str) -> None:
        """The bus: recorded, and fallback requests handed on like Kafka would."""
        await self.bus.publish(topic, event, key=key)
        if isinstance(event, ProviderJobRequested) and self.on_request is not None:
            await self.on_request(event)

    @property
    def events(self) -> list[JobStatusChanged]:
        return self.bus.on(topics.JOBS_STATUS)  # type: ignore[return-value]

    async def new_job(
        self, *, seconds: float = 30, retry: int = 1, settings: dict[str, Any] | None = None
    ) -> ProviderJobRequested:
        s = spec(
            provider=self.adapter.provider_id, seconds=seconds, now=SystemClock().now(),
            settings={"prompt": "p", "retry_policy": {"max_attempts": retry,
                                                      "backoff_seconds": 0.05},
                      **(settings or {})},
        )  # fmt: skip
        await self.media.put(s.payload.key, png_photo(1), content_type="image/png")
        await self.store.create(Job.from_spec(s))
        return ProviderJobRequested(occurred_at=SystemClock().now(), job=s, attempt=1)

    async def request(self, request: ProviderJobRequested) -> None:
        await self.worker.on_job_requested(request)

    async def final(self, job_id: str) -> Job:
        async def done() -> Job | None:
            job = await self.store.final(job_id)
            return job if job is not None and not self.worker.in_flight else None

        return await eventually(done, timeout=15, what="the job to be final")

    async def events_of(self, job_id: str) -> list[str]:
        """The final record's log, then what was logged outside it."""
        final = await self.store.final(job_id)
        logged = [*(final.log if final else ()), *await self.store.log_of(job_id)]
        return [e.event for e in logged]


async def test_success_stores_the_result_and_publishes_one_status() -> None:
    h = Harness(ScriptedAdapter("ok"))
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)

    assert job.outcome is Outcome.SUCCEEDED
    assert job.result is not None and job.result.mime_type == "image/png"
    assert await h.media.read(job.result.key) == RESULT
    assert job.result_expires_at - job.finalized_at == timedelta(hours=72)
    assert [e.outcome for e in h.events] == [Outcome.SUCCEEDED]
    assert job.payload.key not in h.media.objects  # the ingest photo went with the job
    assert await h.store.live(job.id) is None
    assert await h.events_of(job.id) == [
        "created",
        "dispatched",
        "claimed",
        "submitted",
        "succeeded",
    ]


async def test_the_usage_a_provider_reports_is_logged_with_the_call_numbers_only() -> None:
    h = Harness(ScriptedAdapter("with-usage"))
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)

    (submitted,) = [e for e in job.log if e.event == "submitted"]
    assert submitted.details is not None
    assert submitted.details["usage"] == {"input_tokens": 520, "output_tokens": 4160}


async def test_a_redelivered_request_does_not_submit_twice() -> None:
    adapter = ScriptedAdapter("queued", polls_until_done=3)
    h = Harness(adapter)
    request = await h.new_job()
    await h.request(request)
    await h.request(request)  # duplicate delivery while running
    await h.final(request.job.job_id)
    await h.request(request)  # duplicate delivery after the end
    assert adapter.submits == 1
    assert (await h.events_of(request.job.job_id)).count("claimed") == 1


async def test_a_request_claimed_by_another_worker_is_left_to_it() -> None:
    store, media = InMemoryJobStore(), InMemoryMediaStore()
    first, second = ScriptedAdapter("queued", polls_until_done=2), ScriptedAdapter("ok")
    a, b = Harness(first, store=store, media=media), Harness(second, store=store, media=media)
    request = await a.new_job()
    await a.request(request)
    await b.request(request)  # the same message, delivered to another replica
    job = await a.final(request.job.job_id)
    assert job.outcome is Outcome.SUCCEEDED
    assert (first.submits, second.submits) == (1, 0)


async def test_retryable_errors_are_retried_within_the_policy() -> None:
    flaky = ProviderError(ProviderErrorCode.UNAVAILABLE, "503", retryable=True)
    adapter = ScriptedAdapter(flaky, "ok")
    h = Harness(adapter)
    request = await h.new_job(retry=2)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.SUCCEEDED and adapter.submits == 2
    assert "retry_scheduled" in await h.events_of(job.id)


async def test_non_retryable_errors_end_the_job_as_provider_error() -> None:
    rejected = ProviderError(ProviderErrorCode.REJECTED, "bad request", http_status=400)
    adapter = ScriptedAdapter(rejected, "ok")
    h = Harness(adapter)
    request = await h.new_job(retry=3)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and adapter.submits == 1
    assert job.error is not None and job.error.code == "provider_rejected"
    [status] = h.events
    assert status.error_code == "provider_rejected"


async def test_no_retry_starts_when_the_deadline_has_no_room() -> None:
    slow = ProviderError(
        ProviderErrorCode.QUOTA_EXHAUSTED, "429", retryable=True, retry_after_seconds=60
    )
    adapter = ScriptedAdapter(slow, "ok")
    h = Harness(adapter)
    request = await h.new_job(retry=3, seconds=10)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and adapter.submits == 1


async def test_late_result_after_timeout_is_ignored() -> None:
    adapter = ScriptedAdapter("ok")
    adapter.release.clear()  # the provider answers only when the test says so
    h = Harness(adapter)
    request = await h.new_job()
    job_id = request.job.job_id
    await h.request(request)
    await eventually(lambda: asyncio.sleep(0, adapter.submits), what="the submission")
    # the api's deadline fires first
    live = await h.store.live(job_id)
    assert live is not None
    await h.transitions.finalize(
        live, Transition.TIME_OUT, finalizer="api",
        error=JobError(code="deadline_exceeded", message="late"),
    )  # fmt: skip
    adapter.release.set()
    await eventually(lambda: _has(h, job_id, "late_result_ignored"), what="the late result")
    job = await h.store.final(job_id)
    assert job is not None and job.outcome is Outcome.TIMEOUT and job.result is None
    assert [k for k in h.media.objects if k.startswith("results/")] == []  # discarded
    assert [e.outcome for e in h.events] == [Outcome.TIMEOUT]  # the api's, and only that


async def _has(h: Harness, job_id: str, event: str) -> bool:
    return event in await h.events_of(job_id)


async def test_deadline_stops_polling_and_cancels_at_the_provider() -> None:
    adapter = ScriptedAdapter("queued")  # never done
    h = Harness(adapter)
    request = await h.new_job(seconds=1.5)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.TIMEOUT
    assert adapter.cancels == ["ref-1"]
    polls = adapter.polls
    assert h.worker.in_flight == 0 and adapter.polls == polls


async def test_cancel_request_reaches_in_flight_work() -> None:
    adapter = ScriptedAdapter("queued")
    h = Harness(adapter)
    request = await h.new_job()
    job_id = request.job.job_id
    await h.request(request)
    await eventually(lambda: asyncio.sleep(0, adapter.polls), what="the first poll")
    started = asyncio.get_running_loop().time()
    await h.worker.on_cancel_requested(
        JobCancelRequested(occurred_at=datetime.now(UTC), job_id=job_id, reason="admin")
    )
    job = await h.final(job_id)
    assert job.outcome is Outcome.CANCELLED
    assert asyncio.get_running_loop().time() - started < 1.0
    assert adapter.cancels == ["ref-1"]


async def test_a_cancel_that_comes_before_the_request_keeps_the_job_from_running() -> None:
    adapter = ScriptedAdapter("ok")
    h = Harness(adapter)
    request = await h.new_job()
    await h.worker.on_cancel_requested(
        JobCancelRequested(occurred_at=datetime.now(UTC), job_id=request.job.job_id, reason="x")
    )
    await h.request(request)
    assert adapter.submits == 0 and h.worker.in_flight == 0
    assert await h.store.claim_of(request.job.job_id, 1) is None


async def test_a_stopped_workers_job_is_resumed_from_its_reference() -> None:
    adapter = ScriptedAdapter(polls_until_done=2)
    h = Harness(adapter)
    request = await h.new_job()
    job_id = request.job.job_id
    dead = await h.transitions.claim(request, worker_id="gone")
    assert dead is not None
    await h.transitions.record_reference(dead[0], "ref-77")
    await h.store.beat(
        WorkerPresence(
            worker_id="gone", provider=adapter.provider_id,
            seen_at=SystemClock().now() - timedelta(seconds=5),
        )
    )  # fmt: skip

    assert await h.worker.recover_once() == 1
    job = await h.final(job_id)
    assert job.outcome is Outcome.SUCCEEDED and job.attempt == 2
    assert adapter.submits == 0 and adapter.polls == 2
    assert "resumed" in await h.events_of(job_id) and "taken_over" in await h.events_of(job_id)
    assert await h.store.workers(adapter.provider_id) == []  # the dead worker is forgotten


async def test_a_worker_says_it_is_alive_before_it_takes_any_job() -> None:
    h = Harness(ScriptedAdapter("ok"))
    await h.worker.announce()
    [presence] = await h.store.workers("scripted")
    assert presence.worker_id == h.worker.worker_id


async def test_old_claims_of_a_stopped_worker_are_not_resumed() -> None:
    adapter = ScriptedAdapter(polls_until_done=1)
    h = Harness(adapter)
    request = await h.new_job()
    long_ago = SystemClock().now() - timedelta(minutes=5)
    await h.store.claim(Claim(request.job.job_id, 1, "gone", "scripted", long_ago, "ref-1"))
    await h.store.beat(WorkerPresence(worker_id="gone", provider="scripted", seen_at=long_ago))
    assert await h.worker.recover_once() == 0
    assert adapter.polls == 0


async def test_a_live_workers_jobs_are_not_taken_over() -> None:
    adapter = ScriptedAdapter("queued")
    h = Harness(adapter)
    request = await h.new_job()
    await h.transitions.claim(request, worker_id="busy")
    await h.store.beat(
        WorkerPresence(worker_id="busy", provider=adapter.provider_id, seen_at=SystemClock().now())
    )
    assert await h.worker.recover_once() == 0
    assert adapter.submits == 0 and adapter.polls == 0


class OutageStore(InMemoryJobStore):
    """A job store whose heartbeat writes fail while `away` is set (the database is down)."""

    away = False

    async def beat(self, presence: WorkerPresence) -> None:
        if self.away:
            raise AutoReconnect("database away")
        await super().beat(presence)


async def test_after_a_database_outage_a_silent_worker_is_not_taken_over_until_a_lease_passes() -> (
    None
):
    """Two replicas: during an outage neither can write its heartbeat. The first one back must
    not take the other's running job (and submit it again): the other gets a lease to beat."""
    clock = ManualClock(SystemClock().now())
    store = OutageStore()
    adapter = ScriptedAdapter("queued")
    h = Harness(adapter, store=store, clock=clock)
    request = await h.new_job()
    await h.transitions.claim(request, worker_id="other-replica")
    await store.beat(
        WorkerPresence(worker_id="other-replica", provider=adapter.provider_id, seen_at=clock.now())
    )
    store.away = True
    assert not await h.worker.heartbeat()
    clock.advance(30)  # the outage: nobody's heartbeat is written
    store.away = False
    assert await h.worker.heartbeat()

    assert await h.worker.recover_once() == 0  # its silence may be the outage's
    assert adapter.submits == 0
    clock.advance(1.0)  # a lease of steady heartbeats of ours, none of the other's: it died
    assert await h.worker.heartbeat()
    assert await h.worker.recover_once() == 1


async def test_a_gracefully_stopped_worker_hands_its_jobs_over_at_once() -> None:
    store, media = InMemoryJobStore(), InMemoryMediaStore()
    stopping = Harness(ScriptedAdapter("queued"), store=store, media=media)
    request = await stopping.new_job()
    await stopping.request(request)
    await eventually(lambda: asyncio.sleep(0, stopping.adapter.polls), what="polling")
    await stopping.worker.shutdown()

    taker = Harness(ScriptedAdapter(polls_until_done=1), store=store, media=media)
    assert await taker.worker.recover_once() == 1  # no waiting for a lease to run out
    job = await taker.final(request.job.job_id)
    assert job.outcome is Outcome.SUCCEEDED and taker.adapter.submits == 0


async def test_a_failed_poll_is_retried_without_a_second_submission() -> None:
    blip = ProviderError(ProviderErrorCode.UNAVAILABLE, "502 from the provider", retryable=True)
    adapter = ScriptedAdapter("queued", polls_until_done=3, poll_errors=(blip,))
    h = Harness(adapter)
    request = await h.new_job(retry=3)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.SUCCEEDED
    assert adapter.submits == 1
    assert "poll_failed" in await h.events_of(job.id)


async def test_a_failed_remote_job_is_not_submitted_again() -> None:
    failed = ProviderError(ProviderErrorCode.JOB_FAILED, "queue failed")
    adapter = ScriptedAdapter("queued", poll_errors=(failed,))
    h = Harness(adapter)
    request = await h.new_job(retry=3)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and adapter.submits == 1


async def test_a_quota_error_hands_the_job_to_the_fallback_provider() -> None:
    quota = ProviderError(ProviderErrorCode.QUOTA_EXHAUSTED, "429", retryable=True)
    store, media = InMemoryJobStore(), InMemoryMediaStore()
    backup = Harness(ScriptedAdapter("ok", provider_id="turbotext"), store=store, media=media)
    primary = Harness(
        ScriptedAdapter(quota, provider_id="gemini"), store=store, media=media,
        on_request=backup.worker.on_job_requested,
    )  # fmt: skip
    fallback = {"provider": "turbotext", "operation": "image_edit", "settings": {"prompt": "b"}}
    request = await primary.new_job(settings={"fallback": fallback})
    await primary.request(request)
    job = await backup.final(request.job.job_id)

    assert job.outcome is Outcome.SUCCEEDED
    assert job.provider == "turbotext" and job.fallback_from == "gemini" and job.attempt == 2
    assert primary.adapter.submits == 1 and backup.adapter.submits == 1
    assert [e.event for e in job.log] == [
        "created", "fallback_requested", "taken_over", "submitted", "succeeded",
    ]  # fmt: skip
    primary_steps = [e.event for e in await primary.store.log_of(job.id)]
    assert primary_steps == ["dispatched", "claimed", "submit_failed", "fallback"]


async def test_a_non_retryable_error_does_not_use_the_fallback() -> None:
    rejected = ProviderError(ProviderErrorCode.REJECTED, "400")
    primary = Harness(ScriptedAdapter(rejected, provider_id="gemini"))
    fallback = {"provider": "turbotext", "operation": "image_edit", "settings": {"prompt": "b"}}
    request = await primary.new_job(settings={"fallback": fallback})
    await primary.request(request)
    job = await primary.final(request.job.job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and job.provider == "gemini"


async def test_a_provider_that_never_answers_ends_the_job_as_a_timeout_at_its_deadline() -> None:
    class Hanging(ScriptedAdapter):
        def __init__(self) -> None:
            super().__init__("ok")
            self.budgets: list[float] = []

        async def submit_job(self, prepared: Any, *, timeout: float) -> Submission:
            self.budgets.append(timeout)
            await asyncio.sleep(timeout)  # a provider that never answers within the budget
            raise ProviderError(ProviderErrorCode.TIMEOUT, "no answer", retryable=True)

    adapter = Hanging()
    short = ProviderConfig(
        provider_id="scripted", base_url="http://127.0.0.1:1", request_timeout_seconds=0.5,
        min_attempt_seconds=0.6,
    )  # fmt: skip
    h = Harness(adapter, config=short)
    request = await h.new_job(seconds=1.2, retry=3)
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.TIMEOUT  # a gateway timeout, not the provider's error
    # the first call was cut to the request timeout (room for another); the last ran to the end
    assert adapter.budgets[0] == 0.5 and adapter.budgets[-1] > 0.5


async def test_a_crash_in_the_runtime_ends_the_job_at_once_and_frees_its_capacity() -> None:
    class Broken(ScriptedAdapter):
        async def prepare_payload(self, job: ProviderInput) -> Any:
            raise RuntimeError("a bug")

    h = Harness(Broken("ok"))
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.PROVIDER_ERROR and job.error is not None
    assert job.error.code == "internal_error"
    assert h.worker._capacity._value == 4


async def test_a_database_outage_while_preparing_the_input_delays_the_job_only() -> None:
    class Away(InMemoryMediaLinks):
        """The database is away for the first two link writes."""

        failures = 2

        async def create(self, *args: Any, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise AutoReconnect("connection closed")
            return await super().create(*args, **kwargs)

    class Linking(ScriptedAdapter):
        needs_public_urls = True

    links = Away()
    h = Harness(Linking("ok"), links=links)
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.SUCCEEDED
    assert links.failures == 0
    assert h.adapter.submits == 1  # one submission, after the database came back


async def test_a_media_store_outage_while_storing_the_result_is_waited_out() -> None:
    class Away(InMemoryMediaStore):
        """The store refuses the first two result writes."""

        failures = 2

        async def put(self, key: str, data: Any, **kwargs: Any) -> Any:
            if key.startswith("results/") and self.failures:
                self.failures -= 1
                raise MediaUnavailable("the S3 store failed: GenericError")
            return await super().put(key, data, **kwargs)

    media = Away()
    h = Harness(ScriptedAdapter("ok"), media=media)
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert job.outcome is Outcome.SUCCEEDED and job.result is not None
    assert media.failures == 0 and await media.read(job.result.key) == RESULT
    assert h.adapter.submits == 1  # the result was kept, not asked for again


class FinalWriteAway(InMemoryJobStore):
    """The database is away for the first `failures` final-record writes. With `lands`, each
    failed write is taken all the same: the connection goes after the server wrote it."""

    def __init__(self, failures: int, *, lands: bool = False) -> None:
        super().__init__()
        self.failures = failures
        self.lands = lands

    async def finalize(self, job: Job) -> bool:
        if self.failures:
            self.failures -= 1
            if self.lands:
                await super().finalize(job)
            raise AutoReconnect("connection closed")
        return await super().finalize(job)


async def test_a_database_outage_while_writing_a_failure_is_waited_out() -> None:
    store = FinalWriteAway(3)
    rejected = ProviderError(ProviderErrorCode.REJECTED, "bad request", http_status=400)
    h = Harness(ScriptedAdapter(rejected), store=store)
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert store.failures == 0
    assert job.outcome is Outcome.PROVIDER_ERROR  # the provider's answer, not a timeout
    assert job.error is not None and job.error.code == "provider_rejected"
    assert [e.error_code for e in h.events] == ["provider_rejected"]
    assert await h.store.live(job.id) is None
    assert await h.events_of(job.id) == [
        "created", "dispatched", "claimed", "submit_failed", "provider_error",
    ]  # fmt: skip


async def test_a_failure_whose_record_landed_unseen_is_written_and_announced_once() -> None:
    store = FinalWriteAway(1, lands=True)
    rejected = ProviderError(ProviderErrorCode.REJECTED, "bad request", http_status=400)
    h = Harness(ScriptedAdapter(rejected), store=store)
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert store.failures == 0
    assert job.outcome is Outcome.PROVIDER_ERROR
    assert [e.error_code for e in h.events] == ["provider_rejected"]
    assert await h.store.live(job.id) is None  # tidied by the retry
    assert await h.events_of(job.id) == [
        "created", "dispatched", "claimed", "submit_failed", "provider_error",
    ]  # fmt: skip


async def test_a_result_whose_record_landed_unseen_is_kept_and_announced_once() -> None:
    store = FinalWriteAway(1, lands=True)
    h = Harness(ScriptedAdapter("ok"), store=store)
    request = await h.new_job()
    await h.request(request)
    job = await h.final(request.job.job_id)
    assert store.failures == 0
    assert job.outcome is Outcome.SUCCEEDED and job.result is not None
    assert await h.media.read(job.result.key) == RESULT  # not discarded as a late result
    assert [e.outcome for e in h.events] == [Outcome.SUCCEEDED]
    assert await h.store.live(job.id) is None
    assert await h.events_of(job.id) == [
        "created", "dispatched", "claimed", "submitted", "succeeded",
    ]  # fmt: skip


async def test_a_database_error_while_claiming_gives_the_capacity_back() -> None:
    class Failing(InMemoryJobStore):
        async def claim(self, claim: Claim) -> bool:
            raise ConnectionError("database blip")

    h = Harness(ScriptedAdapter("ok"), store=Failing())
    request = await h.new_job()
    for _ in range(6):  # more blips than the worker has slots
        with pytest.raises(ConnectionError):
            await h.request(request)
    assert h.worker.capacity_left == 4
    await h.worker.check()  # ready: nothing lost


async def test_readiness_fails_when_a_capacity_slot_is_lost() -> None:
    h = Harness(ScriptedAdapter("queued"))
    request = await h.new_job()
    await h.request(request)
    await h.worker.check()  # one slot running an attempt is accounted for
    await h.worker._capacity.acquire()  # a slot taken outside any claim or attempt
    with pytest.raises(RuntimeError, match="1 capacity slot"):
        await h.worker.check()
    await h.worker.shutdown()
