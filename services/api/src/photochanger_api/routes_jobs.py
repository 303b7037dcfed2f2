"""Jobs for admins: a filtered, paged list; one job with its processing log; cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from photochanger_contracts import ErrorCode, JobCancelRequested, JobOutcome, JobStatus, topics
from photochanger_runtime.broker import publish
from photochanger_runtime.job_queries import InvalidCursor, JobFilter, JobQueries
from photochanger_runtime.job_repository import Job

from .admin.auth import Permission, Principal
from .admin.views import (
    ADMIN_ERRORS,
    CancelAccepted,
    JobDetail,
    JobPageView,
    JobSummaryView,
    errors,
)
from .dependencies import container, ingest_deps, require
from .errors import ApiError

router = APIRouter(prefix="/api/jobs", tags=["admin: jobs"])

ReadJobs = Annotated[Principal, Depends(require(Permission.JOBS_READ))]


def job_view(job: Job) -> dict[str, Any]:
    view = job.model_dump(mode="json", by_alias=False, exclude={"attempt_id", "worker_id"})
    view["failure_reason"] = job.failure_reason.value if job.failure_reason else None
    return view


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.get("", response_model=JobPageView, responses=errors(*ADMIN_ERRORS, 422))
async def list_jobs(
    request: Request,
    _: ReadJobs,
    slot_id: Annotated[str | None, Query(max_length=32)] = None,
    status: JobStatus | None = None,
    outcome: JobOutcome | None = None,
    created_from: Annotated[
        datetime | None, Query(description="created at or after (UTC when no offset)")
    ] = None,
    created_to: Annotated[datetime | None, Query(description="created before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> JobPageView:
    """Newest first. `outcome` filters finalized jobs by how they ended (the failure
    reasons are `timeout`, `provider_error`, `cancelled`)."""
    queries = await container(request).aget(JobQueries)
    where = JobFilter(
        slot_id=slot_id,
        status=status,
        outcome=outcome,
        created_from=_aware(created_from),
        created_to=_aware(created_to),
    )
    try:
        page = await queries.page(where, limit=limit, cursor=cursor)
    except InvalidCursor as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "invalid cursor",
            {"problems": [{"field": "query.cursor", "message": str(exc)}]},
        ) from exc
    items = [
        JobSummaryView(
            **j.model_dump(),
            failure_reason=j.outcome if j.outcome and j.outcome.is_failure else None,
        )
        for j in page.items
    ]
    return JobPageView(items=items, next_cursor=page.next_cursor)


@router.get("/{job_id}", response_model=JobDetail, responses=errors(*ADMIN_ERRORS, 404, 422))
async def get_job(job_id: str, request: Request, _: ReadJobs) -> dict[str, Any]:
    """The job with its processing log timeline."""
    deps = await ingest_deps(request)
    job = await deps.jobs.get(job_id)
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id})
    entries = await deps.log.for_job(job_id)
    return {**job_view(job), "processing_log": [e.model_dump(mode="json") for e in entries]}


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=CancelAccepted,
    responses=errors(*ADMIN_ERRORS, 404, 409, 422),
)
async def cancel_job(
    job_id: str,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.JOBS_WRITE))],
) -> CancelAccepted:
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
    return CancelAccepted(job_id=job_id, status=job.status, cancel_requested=True)
