"""The TTL sweeps. Each is safe to run in several replicas at once: jobs change state through
conditional updates and media deletion reports whether this replica really deleted it, so no
effect (status event, deletion, count) happens twice.

FerretDB has no TTL indexes; these sweeps are the only place where anything expires."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from photochanger_contracts import JobOutcome

from . import metrics
from .clock import Clock
from .job_repository import JobError, JobRepository
from .media_store import MediaStore
from .outcomes import finalize_and_announce
from .processing_log import ProcessingLog

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    timed_out: int = 0
    payloads_deleted: int = 0
    links_deleted: int = 0
    results_deleted: int = 0


@dataclass(frozen=True, slots=True)
class Reaper:
    jobs: JobRepository
    media: MediaStore
    processing_log: ProcessingLog
    broker: KafkaBroker
    clock: Clock
    batch_size: int = 200

    async def expire_jobs(self) -> int:
        """Jobs past `expires_at` and not final → timeout, cancel request, status event."""
        now = self.clock.now()
        overdue = await self.jobs.find_overdue(now, self.batch_size)
        oldest = max(((now - j.expires_at).total_seconds() for j in overdue), default=0.0)
        metrics.REAPER_LAG.labels(kind="jobs").set(oldest)
        finalized = 0
        for job in overdue:
            final = await finalize_and_announce(
                job=job,
                outcome=JobOutcome.TIMEOUT,
                error=JobError(code="deadline_exceeded", message="no result before the deadline"),
                finalizer="reaper",
                jobs=self.jobs,
                processing_log=self.processing_log,
                broker=self.broker,
                clock=self.clock,
            )
            if final is not None:
                finalized += 1
        metrics.REAPER_DELETED.labels(kind="jobs_timed_out").inc(finalized)
        return finalized

    async def purge_artifacts(self) -> tuple[int, int]:
        """Ingest payloads of final or expired jobs, and expired public media links."""
        now = self.clock.now()
        due = await self.jobs.find_with_artifacts_due(now, self.batch_size)
        payloads = 0
        for job in due:
            if job.payload is not None and await self.media.delete(job.payload.media_id):
                payloads += 1
            await self.jobs.mark_artifacts_purged(job.id)
        links = await self.media.delete_expired_links(now, self.batch_size)
        metrics.REAPER_DELETED.labels(kind="payloads").inc(payloads)
        metrics.REAPER_DELETED.labels(kind="media_links").inc(links)
        return payloads, links

    async def purge_results(self) -> int:
        """Results past `result_expires_at`: bytes deleted, reference cleared (link → 410)."""
        now = self.clock.now()
        expired = await self.jobs.find_results_expired(now, self.batch_size)
        oldest = max(
            ((now - j.result_expires_at).total_seconds() for j in expired if j.result_expires_at),
            default=0.0,
        )
        metrics.REAPER_LAG.labels(kind="results").set(oldest)
        deleted = 0
        for job in expired:
            assert job.result is not None
            removed = await self.media.delete(job.result.media_id)
            await self.jobs.clear_result(job.id, job.result.media_id)
            if removed:
                deleted += 1
        metrics.REAPER_DELETED.labels(kind="results").inc(deleted)
        return deleted

    async def pending_media(self) -> SweepReport:
        """What a media sweep would remove right now (counts, nothing deleted)."""
        now = self.clock.now()
        due = await self.jobs.find_with_artifacts_due(now, self.batch_size)
        results = await self.jobs.find_results_expired(now, self.batch_size)
        return SweepReport(
            payloads_deleted=sum(1 for j in due if j.payload is not None),
            links_deleted=await self.media.count_expired_links(now),
            results_deleted=len(results),
        )

    async def sweep_media(self) -> SweepReport:
        payloads, links = await self.purge_artifacts()
        results = await self.purge_results()
        return SweepReport(payloads_deleted=payloads, links_deleted=links, results_deleted=results)

    async def sweep_all(self) -> SweepReport:
        timed_out = await self.expire_jobs()
        media = await self.sweep_media()
        return SweepReport(
            timed_out=timed_out,
            payloads_deleted=media.payloads_deleted,
            links_deleted=media.links_deleted,
            results_deleted=media.results_deleted,
        )
