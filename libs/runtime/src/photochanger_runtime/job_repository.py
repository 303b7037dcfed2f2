"""Jobs in MongoDB. Every state change is ONE conditional `find_one_and_update` whose filter
names the state it expects, so duplicate deliveries, parallel replicas and late provider
answers can never overwrite a final state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from photochanger_contracts import JobOutcome, JobStatus, MediaRef, Operation, TemplateBinding
from photochanger_contracts.jobs import FINALIZABLE_FROM
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

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
    lease_expires_at: datetime | None = None
    provider_job_reference: str | None = None
    payload: MediaRef | None = None
    templates: tuple[TemplateBinding, ...] = ()
    result: MediaRef | None = None
    error: JobError | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    client_hash: str | None = None
    trace_parent: str | None = None
    cancel_requested: bool = False
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

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        await self._jobs.create_index([("slot_id", ASCENDING), ("created_at", ASCENDING)])
        await self._jobs.create_index([("provider", ASCENDING), ("lease_expires_at", ASCENDING)])
        await self._jobs.create_index([("result_expires_at", ASCENDING)])

    async def insert(self, doc: Document) -> Job:
        await self._jobs.insert_one(doc)
        return Job.model_validate(doc)

    async def get(self, job_id: str) -> Job | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return Job.model_validate(doc) if doc else None

    async def _transition(self, flt: Document, update: Document) -> Job | None:
        doc = await self._jobs.find_one_and_update(
            flt, update, return_document=ReturnDocument.AFTER
        )
        return Job.model_validate(doc) if doc else None

    async def claim(
        self, job_id: str, *, worker_id: str, attempt_id: str, lease_until: datetime, now: datetime
    ) -> Job | None:
        """pending → processing, only before the deadline."""
        return await self._transition(
            {"_id": job_id, "status": JobStatus.PENDING.value, "expires_at": {"$gt": now}},
            {
                "$set": {
                    "status": JobStatus.PROCESSING.value,
                    "worker_id": worker_id,
                    "attempt_id": attempt_id,
                    "lease_expires_at": lease_until,
                    "updated_at": now,
                },
                "$inc": {"attempt": 1},
            },
        )

    async def take_over(
        self, job_id: str, *, worker_id: str, attempt_id: str, lease_until: datetime, now: datetime
    ) -> Job | None:
        """A processing job whose worker stopped renewing its lease gets a new owner."""
        return await self._transition(
            {
                "_id": job_id,
                "status": JobStatus.PROCESSING.value,
                "lease_expires_at": {"$lt": now},
                "expires_at": {"$gt": now},
            },
            {
                "$set": {
                    "worker_id": worker_id,
                    "attempt_id": attempt_id,
                    "lease_expires_at": lease_until,
                    "updated_at": now,
                }
            },
        )

    async def renew_lease(self, job_id: str, attempt_id: str, lease_until: datetime) -> bool:
        res = await self._jobs.update_one(
            {"_id": job_id, "attempt_id": attempt_id, "status": JobStatus.PROCESSING.value},
            {"$set": {"lease_expires_at": lease_until}},
        )
        return res.modified_count == 1

    async def release_lease(self, job_id: str, attempt_id: str, now: datetime) -> None:
        """Hand a job back on graceful shutdown so another worker resumes it at once."""
        await self._jobs.update_one(
            {"_id": job_id, "attempt_id": attempt_id, "status": JobStatus.PROCESSING.value},
            {"$set": {"lease_expires_at": now}},
        )

    async def record_reference(
        self, job_id: str, attempt_id: str, reference: str, now: datetime
    ) -> bool:
        res = await self._jobs.update_one(
            {"_id": job_id, "attempt_id": attempt_id, "status": JobStatus.PROCESSING.value},
            {"$set": {"provider_job_reference": reference, "updated_at": now}},
        )
        return res.modified_count == 1

    async def set_templates(
        self, job_id: str, templates: tuple[TemplateBinding, ...], now: datetime
    ) -> bool:
        """The dispatcher pins the template media a pending job will use."""
        res = await self._jobs.update_one(
            {"_id": job_id, "status": JobStatus.PENDING.value},
            {"$set": {"templates": [t.model_dump() for t in templates], "updated_at": now}},
        )
        return res.modified_count == 1

    async def renew_leases(self, worker_id: str, job_ids: list[str], lease_until: datetime) -> int:
        if not job_ids:
            return 0
        res = await self._jobs.update_many(
            {
                "_id": {"$in": job_ids},
                "worker_id": worker_id,
                "status": JobStatus.PROCESSING.value,
            },
            {"$set": {"lease_expires_at": lease_until}},
        )
        return res.modified_count

    async def request_cancel(self, job_id: str, now: datetime) -> Job | None:
        return await self._transition(
            {"_id": job_id, "status": {"$ne": JobStatus.FINALIZED.value}},
            {"$set": {"cancel_requested": True, "updated_at": now}},
        )

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
    ) -> Job | None:
        """Move a live job to its final outcome; None if it was final already (or not ours)."""
        flt: Document = {
            "_id": job_id,
            "status": {"$in": [s.value for s in FINALIZABLE_FROM[outcome]]},
        }
        if attempt_id is not None:
            flt["attempt_id"] = attempt_id
        fields: Document = {
            "status": JobStatus.FINALIZED.value,
            "outcome": outcome.value,
            "finalized_at": now,
            "updated_at": now,
            "lease_expires_at": None,
        }
        if result is not None:
            fields["result"] = result.model_dump()
            fields["result_expires_at"] = result_expires_at
        if error is not None:
            fields["error"] = error.model_dump()
        return await self._transition(flt, {"$set": fields})

    async def find_overdue(self, now: datetime, limit: int) -> Sequence[Job]:
        cursor = self._jobs.find(
            {
                "status": {"$in": [JobStatus.PENDING.value, JobStatus.PROCESSING.value]},
                "expires_at": {"$lte": now},
            }
        ).limit(limit)
        return [Job.model_validate(d) async for d in cursor]

    async def find_orphaned(self, provider: str, now: datetime, limit: int) -> Sequence[Job]:
        """Processing jobs of `provider` whose worker is gone, still inside their deadline."""
        cursor = self._jobs.find(
            {
                "provider": provider,
                "status": JobStatus.PROCESSING.value,
                "lease_expires_at": {"$lt": now},
                "expires_at": {"$gt": now},
            }
        ).limit(limit)
        return [Job.model_validate(d) async for d in cursor]

    async def find_with_artifacts_due(self, now: datetime, limit: int) -> Sequence[Job]:
        """Jobs whose ingest payload may go: finalized, or past the artifact expiry."""
        cursor = self._jobs.find(
            {
                "artifacts_purged": False,
                "$or": [
                    {"status": JobStatus.FINALIZED.value},
                    {"artifact_expires_at": {"$lte": now}},
                ],
            }
        ).limit(limit)
        return [Job.model_validate(d) async for d in cursor]

    async def mark_artifacts_purged(self, job_id: str) -> bool:
        res = await self._jobs.update_one(
            {"_id": job_id, "artifacts_purged": False}, {"$set": {"artifacts_purged": True}}
        )
        return res.modified_count == 1

    async def find_results_expired(self, now: datetime, limit: int) -> Sequence[Job]:
        cursor = self._jobs.find(
            {"result": {"$ne": None}, "result_expires_at": {"$lte": now}}
        ).limit(limit)
        return [Job.model_validate(d) async for d in cursor]

    async def clear_result(self, job_id: str, media_id: str) -> bool:
        res = await self._jobs.update_one(
            {"_id": job_id, "result.media_id": media_id}, {"$set": {"result": None}}
        )
        return res.modified_count == 1

    async def delete(self, job_id: str) -> None:
        await self._jobs.delete_one({"_id": job_id})
