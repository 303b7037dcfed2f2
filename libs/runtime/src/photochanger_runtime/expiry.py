"""The TTL sweeps. FerretDB has no TTL indexes; these sweeps are where things expire. Each is
safe to run in several replicas at once: a job's final record has one writer (`JobStore`),
and deleting media reports whether this replica really deleted it, so no effect (status
event, deletion, count) happens twice.

- jobs past their deadline and not final → timeout, cancel request, status event;
- ingest photos and results → deleted with their expiry bucket once it is over (the key
  layout in `media.keys`), which also catches bytes whose writer died before recording them;
- public media links past their expiry → deleted;
- template images the catalogue does not know (a registration that died half-way) → deleted
  once an hour old;
- the api's client records (ADR-0016): `Idempotency-Key` records past their 24 h, webhook
  deliveries that ended (delivered or given up) once past their job's result expiry, and the
  attempt claims of deliveries older than that."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clock import Clock
from .configuration.template_media import TemplateMediaCatalog
from .jobs import JobError, JobStore, JobTransitions, Transition
from .media import MediaStore
from .media.keys import EXPIRING_KINDS, bucket_end, is_bucket
from .media.links import MediaLinks
from .observability import metrics

log = logging.getLogger(__name__)

#: how long after its end a bucket is emptied (clock skew between hosts)
BUCKET_GRACE = timedelta(minutes=1)
#: a template object the catalogue does not know may be a registration still in progress
TEMPLATE_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SweepReport:
    timed_out: int = 0
    payloads_deleted: int = 0
    links_deleted: int = 0
    results_deleted: int = 0
    orphans_deleted: int = 0


@dataclass(frozen=True, slots=True)
class JobExpiry:
    """Jobs past their deadline: the sweep that makes sure no job is left without an end."""

    store: JobStore
    transitions: JobTransitions
    clock: Clock
    batch_size: int = 200

    async def expire_jobs(self) -> int:
        """Jobs past `expires_at` and not final → timeout, cancel request, status event.
        A live record whose job is final already (its finalizer stopped before tidying up)
        is tidied."""
        now = self.clock.now()
        overdue = await self.store.overdue(now, self.batch_size)
        oldest = max(((now - j.expires_at).total_seconds() for j in overdue), default=0.0)
        metrics.REAPER_LAG.labels(kind="jobs").set(oldest)
        finalized = 0
        for job in overdue:
            final = await self.transitions.finalize(
                job, Transition.TIME_OUT, finalizer="reaper",
                error=JobError(code="deadline_exceeded", message="no result before the deadline"),
            )  # fmt: skip
            if final is not None:
                finalized += 1
            else:
                await self.transitions.tidy(job)
        metrics.REAPER_DELETED.labels(kind="jobs_timed_out").inc(finalized)
        return finalized


def _overdue_seconds(folder: str, now: datetime) -> float:
    """Seconds since an expiry bucket's folder became due for deletion."""
    name = folder.rstrip("/").rsplit("/", 1)[-1]
    return max((now - (bucket_end(name) + BUCKET_GRACE)).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class MediaExpiry:
    """Bytes and links past their expiry."""

    media: MediaStore
    links: MediaLinks
    templates: TemplateMediaCatalog
    clock: Clock
    batch_size: int = 200

    async def expired_buckets(self, kind: str, now: datetime) -> list[str]:
        """The folders of `kind` whose bucket is over."""
        return [
            folder
            async for folder in self.media.folders(f"{kind}/")
            if is_bucket(name := folder.rstrip("/").rsplit("/", 1)[-1])
            and bucket_end(name) + BUCKET_GRACE <= now
        ]

    async def purge_buckets(self) -> tuple[int, int]:
        """Delete every ingest photo and result whose expiry bucket is over."""
        now = self.clock.now()
        counts = {}
        for kind in EXPIRING_KINDS:
            deleted = 0
            expired = await self.expired_buckets(kind, now)
            # how long the oldest of them has been due (0: nothing overdue)
            metrics.REAPER_LAG.labels(kind=kind).set(
                max((_overdue_seconds(folder, now) for folder in expired), default=0.0)
            )
            for folder in expired:
                deleted += await self.media.delete_folder(folder)
            counts[kind] = deleted
        metrics.REAPER_DELETED.labels(kind="payloads").inc(counts["payloads"])
        metrics.REAPER_DELETED.labels(kind="results").inc(counts["results"])
        return counts["payloads"], counts["results"]

    async def purge_links(self) -> int:
        deleted = await self.links.delete_expired(self.clock.now(), self.batch_size)
        metrics.REAPER_DELETED.labels(kind="media_links").inc(deleted)
        return deleted

    async def purge_unknown_templates(self) -> int:
        now = self.clock.now()
        deleted = 0
        async for item in self.media.list("templates/"):
            if item.last_modified + TEMPLATE_GRACE > now:
                continue
            name = item.key.rsplit("/", 1)[-1]
            if await self.templates.get(name) is None and await self.media.delete(item.key):
                deleted += 1
        metrics.REAPER_DELETED.labels(kind="orphans").inc(deleted)
        return deleted

    async def pending_media(self) -> SweepReport:
        """What a media sweep would remove right now (counts, nothing deleted)."""
        now = self.clock.now()
        counts = {}
        for kind in EXPIRING_KINDS:
            counts[kind] = 0
            for folder in await self.expired_buckets(kind, now):
                counts[kind] += sum([1 async for _ in self.media.list(folder)])
        return SweepReport(
            payloads_deleted=counts["payloads"],
            links_deleted=await self.links.count_expired(now),
            results_deleted=counts["results"],
        )

    async def sweep_media(self) -> SweepReport:
        payloads, results = await self.purge_buckets()
        links = await self.purge_links()
        orphans = await self.purge_unknown_templates()
        return SweepReport(
            payloads_deleted=payloads, links_deleted=links, results_deleted=results,
            orphans_deleted=orphans,
        )  # fmt: skip


#: the api's client records (photochanger_api.idempotency / .webhooks.deliveries)
IDEMPOTENCY_RECORDS = "idempotency_keys"
WEBHOOK_DELIVERIES = "webhook_deliveries"
WEBHOOK_ATTEMPTS = "webhook_attempts"
#: an attempt claim outlives its delivery's retries by far at this age
ATTEMPT_CLAIM_AGE = timedelta(days=4)


@dataclass(frozen=True, slots=True)
class ClientRecordExpiry:
    db: Any
    clock: Clock

    async def sweep_client_records(self) -> int:
        now = self.clock.now()
        removed = 0
        for collection, where in (
            (IDEMPOTENCY_RECORDS, {"expires_at": {"$lte": now}}),
            (WEBHOOK_DELIVERIES,
             {"expires_at": {"$lte": now}, "state": {"$in": ["delivered", "failed"]}}),
            (WEBHOOK_ATTEMPTS, {"at": {"$lte": now - ATTEMPT_CLAIM_AGE}}),
        ):  # fmt: skip
            result = await self.db[collection].delete_many(where)
            removed += result.deleted_count
        return removed
