"""Jobs in MongoDB, and the one way their state changes.

A transition must have exactly one winner, whatever the number of replicas, duplicate
deliveries or late provider answers. On MongoDB a filtered `find_one_and_update` would do;
FerretDB (our embedded default) evaluates the filter and writes the document in separate
steps, so two concurrent conditional updates can both "win" (ADR-0006 has the measurements).
What is atomic on both servers is an insert under a unique `_id`. So every contested
transition first inserts a *fence* document — `{job}/attempt/{n}` for a claim,
`{job}/final` for the outcome — and only the inserter writes the job document. The final
fence keeps the fields it wrote, so a job document that lost that write to a concurrent
update is repaired from it (`repair`). Leases live in their own collection so that lease
renewals never rewrite a job document (the lease is part of the job's `jobs_live` entry).

FerretDB answers a filter on `_id` alone from its primary key and any other filter by
scanning the whole collection (ADR-0009). So every read and write of a job goes by `_id`, and
the sweeps read three small schedule collections instead of scanning all jobs:
`jobs_live` (jobs not final yet, with the lease of the worker that owns them),
`job_artifacts` (ingest payloads still stored) and `job_results` (results still stored)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from photochanger_contracts import JobOutcome, JobStatus, MediaRef, Operation, TemplateBinding
from photochanger_contracts.jobs import can_claim, can_finalize
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .mongo import Document


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    provider_status: str | None = None


class Job(BaseModel):
    """A job document as stored. Image bytes never live here, only media references."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    slot_id: str
    slot_version: int
    provider: str
    operation: Operation
    settings: dict[str, Any]
    status: JobStatus
    outcome: JobOutcome | None = None
    attempt: int = 0
    attempt_id: str | None = None
    worker_id: str | None = None
    provider_job_reference: str | None = None
    payload: MediaRef | None = None
    templates: tuple[TemplateBinding, ...] = ()
    result: MediaRef | None = None
    error: JobError | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    client_hash: str | None = None
    trace_parent: str | None = None
    cancel_requested: bool = False
    fallback_from: str | None = None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    artifact_expires_at: datetime
    finalized_at: datetime | None = None
    result_expires_at: datetime | None = None
    artifacts_purged: bool = False

    @property
    def is_final(self) -> bool:
        return self.status is JobStatus.FINALIZED

    @property
    def failure_reason(self) -> JobOutcome | None:
        return self.outcome if self.outcome and self.outcome.is_failure else None


class JobRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs = db["jobs"]
        self._fences = db["job_fences"]
        self._live = db["jobs_live"]
        self._artifacts = db["job_artifacts"]
        self._results = db["job_results"]

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        await self._jobs.create_index([("slot_id", ASCENDING), ("created_at", ASCENDING)])
        await self._jobs.create_index([("provider", ASCENDING), ("status", ASCENDING)])
        await self._jobs.create_index([("result_expires_at", ASCENDING)])
        await self._fences.create_index([("job_id", ASCENDING)])

    async def insert(self, doc: Document) -> Job:
        """Store a new job and put it on the sweep schedules it belongs to."""
        job = Job.model_validate(doc)
        await self._jobs.insert_one(doc)
        if not job.is_final:
            await self._live.insert_one(
                {
                    "_id": job.id,
                    "provider": job.provider,
                    "expires_at": job.expires_at,
                    "claimed": job.status is JobStatus.PROCESSING,
                    "lease_expires_at": None,
                }
            )
        if job.payload is not None and not job.artifacts_purged:
            due = job.finalized_at or (job.updated_at if job.is_final else job.artifact_expires_at)
            await self._artifacts.insert_one({"_id": job.id, "due_at": due})
        if job.result is not None and job.result_expires_at is not None:
            await self._results.insert_one(
                {
                    "_id": job.id,
                    "key": job.result.key,
                    "expires_at": job.result_expires_at,
                }
            )
        return job

    async def _by_ids(self, ids: Sequence[str]) -> list[Job]:
        jobs = [await self.get(job_id) for job_id in ids]
        return [job for job in jobs if job is not None]

    async def get(self, job_id: str) -> Job | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return Job.model_validate(doc) if doc else None

    async def _win(self, fence_id: str, record: Document) -> bool:
        """Insert a fence; True for exactly one caller per fence id."""
        try:
            await self._fences.insert_one({"_id": fence_id, **record})
        except DuplicateKeyError:
            return False
        return True

    @staticmethod
    def _with(job: Job, fields: Document) -> Job:
        return Job.model_validate({**job.model_dump(by_alias=True), **fields})

    # -- attempts ---------------------------------------------------------------------------

    async def claim(
        self, job_id: str, *, worker_id: str, attempt_id: str, lease_until: datetime, now: datetime
    ) -> Job | None:
        """pending → processing, only before the deadline; None unless this caller won."""
        job = await self.get(job_id)
        if job is None or not can_claim(job.status) or job.expires_at <= now:
            return None
        return await self._start_attempt(job, worker_id, attempt_id, lease_until, now)

    async def take_over(
        self,
        job_id: str,
        *,
        provider: str,
        worker_id: str,
        attempt_id: str,
        lease_until: datetime,
        now: datetime,
    ) -> Job | None:
        """A processing job of `provider` without a live lease (its worker died, or another
        provider handed it over) gets a new owner."""
        job = await self.get(job_id)
        if (
            job is None
            or job.provider != provider
            or job.status is not JobStatus.PROCESSING
            or job.expires_at <= now
        ):
            return None
        live = await self._live.find_one({"_id": job_id})
        if live is not None and live.get("lease_expires_at") and live["lease_expires_at"] >= now:
            return None
        return await self._start_attempt(job, worker_id, attempt_id, lease_until, now)

    async def _start_attempt(
        self, job: Job, worker_id: str, attempt_id: str, lease_until: datetime, now: datetime
    ) -> Job | None:
        number = job.attempt + 1
        won = await self._win(
            f"{job.id}/attempt/{number}",
            {"job_id": job.id, "worker_id": worker_id, "attempt_id": attempt_id, "at": now},
        )
        if not won:
            return None
        # A job finalized meanwhile is not checked for here: its final fence makes this
        # attempt's own finalize lose, and its result is then dropped as a late one.
        await self._live.update_one(
            {"_id": job.id},
            {"$set": {"claimed": True, "worker_id": worker_id, "attempt_id": attempt_id,
                      "lease_expires_at": lease_until}},
        )  # fmt: skip
        fields: Document = {
            "status": JobStatus.PROCESSING.value,
            "attempt": number,
            "attempt_id": attempt_id,
            "worker_id": worker_id,
            "updated_at": now,
        }
        await self._jobs.update_one({"_id": job.id}, {"$set": fields})
        return self._with(job, fields)

    async def hand_over(
        self,
        job: Job,
        *,
        attempt_id: str,
        provider: str,
        operation: str,
        settings: Document,
        templates: tuple[TemplateBinding, ...],
        now: datetime,
    ) -> Job | None:
        """Move a processing job to its fallback provider, keeping its deadline. The job stays
        `processing` without a lease, so the fallback provider's worker takes it over."""
        if not await self._win(f"{job.id}/handover/{job.attempt}", {"job_id": job.id, "at": now}):
            return None
        if await self._fences.find_one({"_id": f"{job.id}/final"}, {"_id": 1}):
            return None
        fields: Document = {
            "provider": provider,
            "operation": operation,
            "settings": settings,
            "templates": [t.model_dump() for t in templates],
            "provider_job_reference": None,
            "fallback_from": job.provider,
            "updated_at": now,
        }
        await self._jobs.update_one({"_id": job.id}, {"$set": fields})
        # no lease: the fallback provider's worker takes the job over at once
        await self._live.update_one(
            {"_id": job.id}, {"$set": {"provider": provider, "lease_expires_at": None}}
        )
        return self._with(job, fields)

    async def renew_leases(self, worker_id: str, job_ids: list[str], lease_until: datetime) -> int:
        if not job_ids:
            return 0
        renewed = 0
        for job_id in job_ids:
            res = await self._live.update_one(
                {"_id": job_id}, {"$set": {"lease_expires_at": lease_until}}
            )
            renewed += res.modified_count
        return renewed

    async def release_lease(self, job_id: str, attempt_id: str, now: datetime) -> None:
        """Hand a job back on graceful shutdown so another worker resumes it at once."""
        live = await self._live.find_one({"_id": job_id})
        if live is not None and live.get("attempt_id") == attempt_id:
            await self._live.update_one({"_id": job_id}, {"$set": {"lease_expires_at": now}})

    async def find_orphaned(self, provider: str, now: datetime, limit: int) -> Sequence[Job]:
        """Claimed jobs of `provider` inside their deadline whose lease ran out (or that
        never got one because their claimer died between the fence and the lease)."""
        candidates = [
            d["_id"]
            async for d in self._live.find(
                {"provider": provider, "claimed": True, "expires_at": {"$gt": now}}
            ).limit(limit)
            if d.get("lease_expires_at") is None or d["lease_expires_at"] < now
        ]
        return [job for job in await self._by_ids(candidates) if job.status is JobStatus.PROCESSING]

    async def record_reference(
        self, job_id: str, attempt_id: str, reference: str, now: datetime
    ) -> bool:
        job = await self.get(job_id)
        if job is None or job.attempt_id != attempt_id or job.status is not JobStatus.PROCESSING:
            return False
        await self._jobs.update_one(
            {"_id": job_id}, {"$set": {"provider_job_reference": reference, "updated_at": now}}
        )
        return True

    async def begin_dispatch(self, job_id: str, now: datetime, stale_after: timedelta) -> bool:
        """True for the one dispatcher that routes this job — or, for a redelivery of a job
        still pending `stale_after` after the first dispatch began (that dispatcher died
        before publishing; a second publish is harmless, claims are fenced)."""
        fence_id = f"{job_id}/dispatch"
        if await self._win(fence_id, {"job_id": job_id, "at": now}):
            return True
        fence = await self._fences.find_one({"_id": fence_id})
        return fence is not None and fence["at"] <= now - stale_after

    async def set_templates(
        self, job_id: str, templates: tuple[TemplateBinding, ...], now: datetime
    ) -> bool:
        """The dispatcher pins the template media a pending job will use."""
        job = await self.get(job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return False
        await self._jobs.update_one(
            {"_id": job_id},
            {"$set": {"templates": [t.model_dump() for t in templates], "updated_at": now}},
        )
        return True

    async def request_cancel(self, job_id: str, now: datetime) -> Job | None:
        """Flag a live job for cancellation (the cancel event does the stopping)."""
        job = await self.get(job_id)
        if job is None or job.is_final:
            return None
        fields: Document = {"cancel_requested": True, "updated_at": now}
        await self._jobs.update_one({"_id": job_id}, {"$set": fields})
        return self._with(job, fields)

    async def finalize(
        self,
        job_id: str,
        outcome: JobOutcome,
        *,
        now: datetime,
        attempt_id: str | None = None,
        result: MediaRef | None = None,
        result_expires_at: datetime | None = None,
        error: JobError | None = None,
        known: Job | None = None,
    ) -> Job | None:
        """Move a live job to its final outcome. None when it is final already, when the
        transition is not allowed from its state, or when `attempt_id` is no longer current.
        `known` is the caller's fresh copy of the job (the claimer's), saving a read: the
        final fence still decides if someone else finalized it meanwhile."""
        job = known if known is not None else await self.get(job_id)
        if job is None or not can_finalize(job.status, outcome):
            return None
        if attempt_id is not None and job.attempt_id != attempt_id:
            return None
        fields: Document = {
            "status": JobStatus.FINALIZED.value,
            "outcome": outcome.value,
            "finalized_at": now,
            "updated_at": now,
        }
        if result is not None:
            fields["result"] = result.model_dump()
            fields["result_expires_at"] = result_expires_at
        if error is not None:
            fields["error"] = error.model_dump()
        if not await self._win(f"{job_id}/final", {"job_id": job_id, "at": now, "set": fields}):
            await self.repair(job_id)
            return None
        await self._apply_final(job_id, fields)
        return self._with(job, fields)

    async def _apply_final(self, job_id: str, fields: Document) -> None:
        await self._jobs.update_one({"_id": job_id}, {"$set": fields})
        await self._live.delete_one({"_id": job_id})
        # the ingest payload may go now; the result is kept until its expiry
        await self._artifacts.update_one(
            {"_id": job_id}, {"$set": {"due_at": fields["updated_at"]}}
        )
        if fields.get("result") is not None:
            await self._results.replace_one(
                {"_id": job_id},
                {
                    "key": fields["result"]["key"],
                    "expires_at": fields["result_expires_at"],
                },
                upsert=True,
            )

    async def repair(self, job_id: str) -> bool:
        """Re-apply the recorded final state if the job document lost it; True if it did."""
        fence = await self._fences.find_one({"_id": f"{job_id}/final"})
        if fence is None:
            return False
        job = await self.get(job_id)
        if job is None or job.is_final:
            return False
        await self._apply_final(job_id, fence["set"])
        return True

    async def find_overdue(self, now: datetime, limit: int) -> Sequence[Job]:
        """Jobs past their deadline and not final (or whose final write was lost)."""
        due = [
            d["_id"]
            async for d in self._live.find({"expires_at": {"$lte": now}}, {"_id": 1}).limit(limit)
        ]
        overdue: list[Job] = []
        for job in await self._by_ids(due):
            if job.is_final:  # finalized, but its finalizer stopped before tidying up
                await self._live.delete_one({"_id": job.id})
            else:
                overdue.append(job)
        return overdue

    async def find_with_artifacts_due(self, now: datetime, limit: int) -> Sequence[Job]:
        """Jobs whose ingest payload may go: finalized, or past the artifact expiry."""
        due = [
            d["_id"]
            async for d in self._artifacts.find({"due_at": {"$lte": now}}, {"_id": 1}).limit(limit)
        ]
        return await self._by_ids(due)

    async def mark_artifacts_purged(self, job_id: str) -> bool:
        removed = await self._artifacts.delete_one({"_id": job_id})
        await self._jobs.update_one({"_id": job_id}, {"$set": {"artifacts_purged": True}})
        return removed.deleted_count == 1

    async def find_results_expired(self, now: datetime, limit: int) -> Sequence[Job]:
        due = [
            d["_id"]
            async for d in self._results.find({"expires_at": {"$lte": now}}, {"_id": 1}).limit(
                limit
            )
        ]
        return [job for job in await self._by_ids(due) if job.result is not None]

    async def clear_result(self, job_id: str, key: str) -> bool:
        removed = await self._results.delete_one({"_id": job_id})
        job = await self.get(job_id)
        if job is not None and job.result is not None and job.result.key == key:
            await self._jobs.update_one({"_id": job_id}, {"$set": {"result": None}})
        return removed.deleted_count == 1

    async def count_live(self) -> int:
        return await self._live.count_documents({})

    async def delete(self, job_id: str) -> None:
        await self._jobs.delete_one({"_id": job_id})
