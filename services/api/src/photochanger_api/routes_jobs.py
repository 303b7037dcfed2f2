"""GET /api/jobs/{job_id} and POST /api/jobs/{job_id}/cancel (bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from photochanger_contracts import ErrorCode, JobCancelRequested, topics
from photochanger_runtime.broker import publish
from photochanger_runtime.job_repository import Job

from .dependencies import ingest_deps, require_admin_token
from .errors import ApiError

router = APIRouter(prefix="/api/jobs", tags=["jobs"], dependencies=[Depends(require_admin_token)])


def job_view(job: Job) -> dict[str, Any]:
    view = job.model_dump(mode="json", by_alias=False, exclude={"attempt_id", "worker_id"})
    view["failure_reason"] = job.failure_reason.value if job.failure_reason else None
    return view


@router.get("/{job_id}")
async def get_job(job_id: str, request: Request) -> dict[str, Any]:
    """The job with its processing log timeline."""
    deps = await ingest_deps(request)
    job = await deps.jobs.get(job_id)
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id})
    entries = await deps.log.for_job(job_id)
    return {**job_view(job), "processing_log": [e.model_dump(mode="json") for e in entries]}


@router.post("/{job_id}/cancel", status_code=202)
async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    """Ask the provider worker to stop; the job ends `cancelled` within about a second."""
    deps = await ingest_deps(request)
    now = deps.clock.now()
    job = await deps.jobs.request_cancel(job_id, now)
    if job is None:
        existing = await deps.jobs.get(job_id)
        if existing is None:
            raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id})
        raise ApiError(
            ErrorCode.JOB_ALREADY_FINAL,
            "the job is already final",
            {"job_id": job_id, "outcome": existing.outcome},
        )
    await deps.log.append(
        job_id=job.id, slot_id=job.slot_id, provider=job.provider, event="cancel_requested", at=now
    )
    await publish(
        deps.broker,
        topics.JOBS_CANCEL,
        JobCancelRequested(occurred_at=now, job_id=job_id, reason="admin"),
        key=job_id,
    )
    return {"job_id": job_id, "status": job.status.value, "cancel_requested": True}
