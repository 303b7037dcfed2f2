"""The provider worker: turns `ProviderJobRequested` and `JobCancelRequested` events into
supervised lifecycle runs, keeps leases alive, and resumes jobs whose worker died.

Handling a request means: wait for a free slot (bounded by the job's deadline), claim the
job in MongoDB, start its run. The Kafka offset is committed once the claim is stored; from
then on MongoDB is the record of the work. A crashed worker's jobs keep their
`provider_job_reference`; when their lease runs out, any worker takes them over and resumes
polling instead of submitting again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from opentelemetry import context as otel_context
from opentelemetry import propagate
from photochanger_contracts import JobCancelRequested, ProviderJobRequested
from photochanger_contracts.deadlines import seconds_left

from .. import metrics
from ..job_repository import Job
from ..logs import job_id_var, slot_id_var
from .lifecycle import Attempt, LifecycleDeps, ProviderJobRunner

log = logging.getLogger(__name__)


class ProviderWorker:
    def __init__(
        self,
        runner: ProviderJobRunner,
        deps: LifecycleDeps,
        *,
        max_concurrent_jobs: int,
        lease_seconds: float = 6.0,
        recovery_interval_seconds: float = 2.0,
    ) -> None:
        self._runner = runner
        self._deps = deps
        self._capacity = asyncio.Semaphore(max_concurrent_jobs)
        self._lease = timedelta(seconds=lease_seconds)
        self._recovery_interval = recovery_interval_seconds
        self.worker_id = f"{runner.provider_id}-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, tuple[Attempt, asyncio.Task[None]]] = {}
        self._stopping = False

    @property
    def in_flight(self) -> int:
        return len(self._running)

    # -- message handlers ---------------------------------------------------------------------

    async def on_job_requested(self, event: ProviderJobRequested) -> None:
        if event.job_id in self._running:
            return  # duplicate delivery while we are working on it
        left = seconds_left(self._deps.clock.now(), event.expires_at)
        if self._capacity.locked():
            metrics.RATE_LIMIT_WAITS.labels(provider=self._runner.provider_id).inc()
        try:
            async with asyncio.timeout(left):
                await self._capacity.acquire()
        except TimeoutError:
            log.warning("no capacity before the deadline", extra={"job": event.job_id})
            return  # the api or the reaper finalizes it as timeout
        claimed = await self._claim(event.job_id)
        if claimed is not None:
            assert claimed.attempt_id is not None
            self._start_attempt(Attempt(job=claimed, attempt_id=claimed.attempt_id, reference=None))
            return
        # not pending: maybe handed over to us by another provider, or orphaned
        if not await self._take_over(event.job_id, self._deps.clock.now()):
            self._capacity.release()

    async def on_cancel_requested(self, event: JobCancelRequested) -> None:
        running = self._running.get(event.job_id)
        if running is not None:
            running[0].cancel_requested.set()

    # -- background loops ---------------------------------------------------------------------

    async def keep_leases(self, stop: asyncio.Event) -> None:
        interval = self._lease.total_seconds() / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()
            try:
                await self._deps.jobs.renew_leases(
                    self.worker_id, list(self._running), self._deps.clock.now() + self._lease
                )
            except Exception:
                log.exception("lease renewal failed")

    async def recover_orphans(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.recover_once()
            except Exception:
                log.exception("orphan recovery failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._recovery_interval):
                    await stop.wait()

    async def recover_once(self) -> int:
        """Take over processing jobs whose worker stopped renewing its lease."""
        now = self._deps.clock.now()
        orphans = await self._deps.jobs.find_orphaned(self._runner.provider_id, now, limit=50)
        taken = 0
        for orphan in orphans:
            if orphan.id in self._running or self._capacity.locked():
                continue
            await self._capacity.acquire()
            if await self._take_over(orphan.id, now):
                taken += 1
            else:
                self._capacity.release()
        return taken

    async def _take_over(self, job_id: str, now: datetime) -> bool:
        """Own a processing job without a live lease; the caller holds a capacity slot."""
        if job_id in self._running:
            return False
        attempt_id = uuid.uuid4().hex
        job = await self._deps.jobs.take_over(
            job_id,
            provider=self._runner.provider_id,
            worker_id=self.worker_id,
            attempt_id=attempt_id,
            lease_until=now + self._lease,
            now=now,
        )
        if job is None:
            return False
        await self._deps.log.append(
            job_id=job.id, slot_id=job.slot_id, provider=self._runner.provider_id,
            event="taken_over", at=now, attempt=job.attempt,
            details={"worker_id": self.worker_id, "fallback_from": job.fallback_from},
        )  # fmt: skip
        self._start_attempt(
            Attempt(
                job=job, attempt_id=attempt_id, reference=job.provider_job_reference, resumed=True
            )
        )
        return True

    async def shutdown(self) -> None:
        """Stop running jobs without finalizing them and hand their leases back."""
        self._stopping = True
        running = list(self._running.values())
        for _, task in running:
            task.cancel()
        for attempt, task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await self._deps.jobs.release_lease(
                    attempt.job.id, attempt.attempt_id, self._deps.clock.now()
                )

    # -- internals ----------------------------------------------------------------------------

    async def _claim(self, job_id: str) -> Job | None:
        now = self._deps.clock.now()
        attempt_id = uuid.uuid4().hex
        job = await self._deps.jobs.claim(
            job_id,
            worker_id=self.worker_id,
            attempt_id=attempt_id,
            lease_until=now + self._lease,
            now=now,
        )
        if job is not None:
            await self._deps.log.append(
                job_id=job.id, slot_id=job.slot_id, provider=self._runner.provider_id,
                event="claimed", at=now, attempt=job.attempt,
                details={"worker_id": self.worker_id},
            )  # fmt: skip
        return job

    def _start_attempt(self, attempt: Attempt) -> None:
        task = asyncio.create_task(self._supervise(attempt), name=f"job-{attempt.job.id}")
        self._running[attempt.job.id] = (attempt, task)
        metrics.PROVIDER_JOBS_IN_FLIGHT.labels(provider=self._runner.provider_id).set(
            len(self._running)
        )

    async def _supervise(self, attempt: Attempt) -> None:
        job_id_var.set(attempt.job.id)
        slot_id_var.set(attempt.job.slot_id)
        if attempt.resumed and attempt.job.trace_parent:
            # a resumed job continues the trace its ingest request started
            otel_context.attach(propagate.extract({"traceparent": attempt.job.trace_parent}))
        try:
            await self._runner.run(attempt)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        except Exception:
            log.exception("provider lifecycle crashed; the lease will expire and be resumed")
        finally:
            self._running.pop(attempt.job.id, None)
            self._capacity.release()
            metrics.PROVIDER_JOBS_IN_FLIGHT.labels(provider=self._runner.provider_id).set(
                len(self._running)
            )
