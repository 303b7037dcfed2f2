"""The provider worker: turns `ProviderJobRequested` and `JobCancelRequested` events into
supervised lifecycle runs, tells the others it is alive, and resumes the jobs of workers that
stopped.

Handling a request means: take a free capacity slot (bounded by the job's deadline), claim
the requested attempt (one winner), start its run. The Kafka offset is committed once the
claim is stored; from then on the job store is the record of the work: a claim names its
worker. Every worker writes a heartbeat (before it takes any job, then a few times per lease);
when a worker's heartbeat goes stale, any worker of the same provider claims the next attempt
of each job that worker claimed recently and resumes it from the recorded provider reference
instead of submitting again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from opentelemetry import context as otel_context
from opentelemetry import propagate
from photochanger_contracts import JobCancelRequested, ProviderJobRequested
from photochanger_contracts.deadlines import SYNC_RESPONSE_MAX_SECONDS, seconds_left

from ..jobs import JobError, JobStore, Transition, WorkerPresence
from ..observability import metrics
from ..observability.dbcommands import background
from ..observability.logs import job_id_var, slot_id_var
from .lifecycle import Attempt, LifecycleDeps, ProviderJobRunner

log = logging.getLogger(__name__)

#: how long a cancel is remembered for a job not running here yet (it may still arrive)
_CANCEL_MEMORY_SECONDS = 120.0
_CANCEL_MEMORY_SIZE = 10_000
#: a graceful stop writes a heartbeat this old, so others take over at once
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
#: no job lives longer than its deadline: claims older than this are of finished jobs
_CLAIMS_WORTH_RESUMING = timedelta(seconds=SYNC_RESPONSE_MAX_SECONDS + 5)


class ProviderWorker:
    def __init__(
        self,
        runner: ProviderJobRunner,
        deps: LifecycleDeps,
        store: JobStore,
        *,
        max_concurrent_jobs: int,
        worker_id: str | None = None,
        lease_seconds: float = 6.0,
        recovery_interval_seconds: float = 2.0,
        holds_key: bool | None = None,
    ) -> None:
        self._runner = runner
        self._holds_key = holds_key
        self._deps = deps
        self._store = store
        self._capacity = asyncio.Semaphore(max_concurrent_jobs)
        self._max_concurrent = max_concurrent_jobs
        #: slots taken by requests being claimed, not running yet
        self._claiming = 0
        self._lease = timedelta(seconds=lease_seconds)
        self._recovery_interval = recovery_interval_seconds
        self.worker_id = worker_id or f"{runner.provider_id}-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, tuple[Attempt, asyncio.Task[None]]] = {}
        self._cancelled: OrderedDict[str, float] = OrderedDict()
        self._stopping = False
        #: since when this worker's heartbeats have been written, each in time (None after one
        #: failed or was slow). Another worker's silence means it died only when the database
        #: took heartbeats all along: after an outage every worker's heartbeat is old.
        self._steady_since: datetime | None = _LONG_AGO
        #: stopped workers whose calls were given back to the fleet's budget
        self._abandoned: set[str] = set()

    @property
    def provider_id(self) -> str:
        return self._runner.provider_id

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def capacity_left(self) -> int:
        """Attempts this worker could still start now."""
        return self._capacity._value

    async def check(self) -> None:
        """Readiness: every capacity slot is free, claiming or running an attempt — none
        lost to an error path (a worker that leaks them stops taking jobs)."""
        accounted = self.capacity_left + self._claiming + len(self._running)
        if accounted != self._max_concurrent:
            raise RuntimeError(
                f"{self._max_concurrent - accounted} capacity slot(s) lost; restart the worker"
            )

    # -- message handlers ---------------------------------------------------------------------

    async def on_job_requested(self, event: ProviderJobRequested) -> None:
        job_id = event.job.job_id
        job_id_var.set(job_id)
        slot_id_var.set(event.job.slot_id)
        if job_id in self._running or self._was_cancelled(job_id):
            return  # a duplicate delivery while we work on it, or a job already stopped
        if event.job.provider != self.provider_id:
            log.warning(
                "request for another provider ignored", extra={"provider": event.job.provider}
            )
            return
        left = seconds_left(self._deps.clock.now(), event.job.expires_at)
        if not await self._reserve(left):
            log.warning("no capacity before the deadline")
            return  # the api or the reaper finalizes it as timeout
        self._claiming += 1
        try:
            claimed = await self._deps.transitions.claim(event, worker_id=self.worker_id)
        except BaseException:
            self._capacity.release()
            raise
        finally:
            self._claiming -= 1
        if claimed is None:  # another worker owns this attempt
            self._capacity.release()
            return
        job, entries = claimed
        self._start(Attempt(job=job, entries=list(entries)))

    async def on_cancel_requested(self, event: JobCancelRequested) -> None:
        running = self._running.get(event.job_id)
        if running is not None:
            running[0].cancel_requested.set()
            return
        self._cancelled[event.job_id] = time.monotonic()
        while len(self._cancelled) > _CANCEL_MEMORY_SIZE:
            self._cancelled.popitem(last=False)

    def _was_cancelled(self, job_id: str) -> bool:
        at = self._cancelled.get(job_id)
        return at is not None and time.monotonic() - at < _CANCEL_MEMORY_SECONDS

    async def _reserve(self, timeout: float) -> bool:
        if self._capacity.locked():
            metrics.RATE_LIMIT_WAITS.labels(provider=self.provider_id).inc()
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await self._capacity.acquire()
        except TimeoutError:
            return False
        return True

    # -- background loops ---------------------------------------------------------------------

    async def announce(self) -> None:
        """The first heartbeat, before any job is taken: a worker that dies after its first
        claim is always known. (Awaited by the service's start-up before any consumer runs;
        it is counted as request work, once.)"""
        await self._beat(self._deps.clock.now())

    async def keep_alive(self, stop: asyncio.Event) -> None:
        """Write this worker's heartbeat a few times per lease."""
        background()
        interval = self._lease.total_seconds() / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()
            await self.heartbeat()

    async def heartbeat(self) -> bool:
        """Write one heartbeat; returns whether it was written in time (within a third of a
        lease). One that failed or was slow means other workers' may have been held up too:
        their silence is no proof of death until ours have been steady for a lease."""
        seen_at = self._deps.clock.now()
        started = time.monotonic()
        try:
            await self._beat(seen_at)
        except Exception:
            log.exception("heartbeat not written")
            self._steady_since = None
            return False
        if time.monotonic() - started > self._lease.total_seconds() / 3:
            log.warning("heartbeat written late", extra={"seconds": time.monotonic() - started})
            self._steady_since = None
            return False
        if self._steady_since is None:
            self._steady_since = seen_at
        return True

    async def _beat(self, seen_at: datetime) -> None:
        await self._store.beat(
            WorkerPresence(
                worker_id=self.worker_id,
                provider=self.provider_id,
                seen_at=seen_at,
                holds_key=self._holds_key,
            )
        )

    async def recover_orphans(self, stop: asyncio.Event) -> None:
        background()
        while not stop.is_set():
            try:
                await self.recover_once()
            except Exception:
                log.exception("orphan recovery failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._recovery_interval):
                    await stop.wait()

    async def recover_once(self) -> int:
        """Take over the jobs of workers of this provider whose heartbeat went stale (while
        ours were written steadily for a lease) or that handed their jobs over."""
        now = self._deps.clock.now()
        steady = self._steady_since is not None and self._steady_since + self._lease <= now
        taken = 0
        for worker in await self._store.workers(self.provider_id):
            if worker.worker_id == self.worker_id:
                continue
            handed_over = worker.seen_at <= _LONG_AGO
            if not handed_over and (not steady or worker.seen_at + self._lease > now):
                continue
            finished = True
            claims = await self._store.claims_by(worker.worker_id, now - _CLAIMS_WORTH_RESUMING)
            if worker.worker_id not in self._abandoned:
                # its calls died with it: their places in the fleet's budget come back now
                for claim in claims:
                    await self._runner.abandon_calls(claim.job_id, claim.attempt)
                self._abandoned.add(worker.worker_id)
            for claim in claims:
                if claim.job_id in self._running:
                    continue
                if not await self._reserve(0):
                    finished = False  # no room now: leave the rest for the next round
                    break
                self._claiming += 1
                try:
                    resumed = await self._deps.transitions.take_over(
                        claim.job_id, after_attempt=claim.attempt, worker_id=self.worker_id,
                        provider=self.provider_id,
                    )  # fmt: skip
                except BaseException:
                    self._capacity.release()
                    raise
                finally:
                    self._claiming -= 1
                if resumed is None:
                    self._capacity.release()
                    continue
                job, entries = resumed
                entries = tuple(
                    e.model_copy(
                        update={"details": {**(e.details or {}), "from": worker.worker_id}}
                    )
                    for e in entries
                )
                self._start(Attempt(job=job, entries=list(entries), resumed=True))
                taken += 1
            if finished:
                await self._store.forget_worker(worker.worker_id)
        return taken

    async def shutdown(self) -> None:
        """Stop running attempts without finalizing them, and say so: a heartbeat from long
        ago lets another worker take them over at once."""
        self._stopping = True
        running = list(self._running.values())
        for _, task in running:
            task.cancel()
        for _, task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if running:
            with contextlib.suppress(Exception):
                await self._beat(_LONG_AGO)

    # -- internals ----------------------------------------------------------------------------

    def _start(self, attempt: Attempt) -> None:
        """Run an attempt under supervision; it owns one capacity slot until it ends."""
        task = asyncio.create_task(self._supervise(attempt), name=f"job-{attempt.job.id}")
        self._running[attempt.job.id] = (attempt, task)
        metrics.PROVIDER_JOBS_IN_FLIGHT.labels(provider=self.provider_id).set(len(self._running))

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
            log.exception("provider lifecycle crashed")
            # a bug, not the provider's answer: end the job now rather than at its deadline
            with contextlib.suppress(Exception):
                await self._deps.transitions.finalize(
                    attempt.job, Transition.FAIL, finalizer=self.provider_id, by_owner=True,
                    error=JobError(code="internal_error", message="the provider runtime failed"),
                    log_entries=attempt.entries,
                )  # fmt: skip
        finally:
            self._running.pop(attempt.job.id, None)
            self._capacity.release()
            metrics.PROVIDER_JOBS_IN_FLIGHT.labels(provider=self.provider_id).set(
                len(self._running)
            )
