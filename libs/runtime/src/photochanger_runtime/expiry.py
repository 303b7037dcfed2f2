"""The TTL sweeps. Each is safe to run in several replicas at once: jobs change state through
conditional updates and media deletion reports whether this replica really deleted it, so no
effect (status event, deletion, count) happens twice.

FerretDB has no TTL indexes; these sweeps are the only place where anything expires."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from faststream.kafka import KafkaBroker
from photochanger_contracts import JobOutcome

from . import metrics
from .clock import Clock
from .job_repository import JobError, JobRepository
from .media import MediaStore
from .media.keys import EXPIRING_KINDS, bucket_end, is_bucket
from .media.links import MediaLinks
from .outcomes import finalize_and_announce
from .processing_log import ProcessingLog
from .template_media import TemplateMediaCatalog

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    timed_out: int = 0
    payloads_deleted: int = 0
    links_deleted: int = 0
    results_deleted: int = 0
    orphans_deleted: int = 0


#: how long after an expiry bucket's hour the orphan sweep empties it (clock skew, slow writers)
ORPHAN_GRACE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Reaper:
    jobs: JobRepository
    media: MediaStore
    links: MediaLinks
    templates: TemplateMediaCatalog
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
            # bytes first, then the metadata: a crash in between leaves metadata that points to
            # nothing (deleted again next time), never bytes nothing points to
            if job.payload is not None and await self.media.delete(job.payload.key):
                payloads += 1
            await self.jobs.mark_artifacts_purged(job.id)
        links = await self.links.delete_expired(now, self.batch_size)
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
            removed = await self.media.delete(job.result.key)
            await self.jobs.clear_result(job.id, job.result.key)
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
            links_deleted=await self.links.count_expired(now),
            results_deleted=len(results),
        )

    async def sweep_orphans(self) -> int:
        """Bytes that no metadata points to any more: whole expiry buckets past their hour
        (a writer died between storing bytes and recording them, or a delete was lost), and
        template objects the catalogue does not know, once they are an hour old."""
        now = self.clock.now()
        deleted = 0
        for kind in EXPIRING_KINDS:
            async for folder in self.media.folders(f"{kind}/"):
                bucket = folder.rstrip("/").rsplit("/", 1)[-1]
                if not is_bucket(bucket) or bucket_end(bucket) + ORPHAN_GRACE > now:
                    continue
                async for item in self.media.list(folder):
                    if await self.media.delete(item.key):
                        deleted += 1
        async for item in self.media.list("templates/"):
            name = item.key.rsplit("/", 1)[-1]
            if item.last_modified + timedelta(hours=1) > now:
                continue
            if await self.templates.get(name) is None and await self.media.delete(item.key):
                deleted += 1
        metrics.REAPER_DELETED.labels(kind="orphans").inc(deleted)
        if deleted:
            log.info("orphaned media deleted", extra={"count": deleted})
        return deleted

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
            orphans_deleted=await self.sweep_orphans(),
        )
