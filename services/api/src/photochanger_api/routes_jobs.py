"""Jobs for admins: a filtered, paged list; one job with its processing log; cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from photochanger_contracts import ErrorCode, JobOutcome, JobStatus
from photochanger_runtime.jobs import Job, LogEntry, current

from .admin.auth import Permission, Principal
from .admin.job_queries import InvalidCursor, JobFilter, JobQueries
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
from .query_params import refuse_unknown_query_parameters
from .routes_public import result_download

router = APIRouter(prefix="/api/jobs", tags=["admin: jobs"])

ReadJobs = Annotated[Principal, Depends(require(Permission.JOBS_READ))]


def job_view(job: Job, log: list[LogEntry]) -> dict[str, Any]:
    hidden = {"log", "client_hash", "result_token_sha256"}
    view = job.model_dump(mode="json", by_alias=False, exclude=hidden)
    view["failure_reason"] = job.failure_reason.value if job.failure_reason else None
    view["updated_at"] = (job.finalized_at or job.created_at).isoformat()
    view["processing_log"] = [e.model_dump(mode="json") for e in log]
    return view


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class FailureReason(StrEnum):
    """How a failed job ended (DOMAIN.md's `failure_reason`): every outcome but success."""

    TIMEOUT = JobOutcome.TIMEOUT.value
    PROVIDER_ERROR = JobOutcome.PROVIDER_ERROR.value
    CANCELLED = JobOutcome.CANCELLED.value


@router.get(
    "",
    response_model=JobPageView,
    responses=errors(*ADMIN_ERRORS, 422),
    dependencies=[Depends(refuse_unknown_query_parameters)],
)
async def list_jobs(
    request: Request,
    _: ReadJobs,
    slot_id: Annotated[str | None, Query(max_length=32)] = None,
    status: JobStatus | None = None,
    failure_reason: Annotated[
        FailureReason | None, Query(description="finalized jobs that failed this way")
    ] = None,
    outcome: Annotated[
        JobOutcome | None,
        Query(description="how a finalized job ended; `failure_reason` for the failures"),
    ] = None,
    created_from: Annotated[
        datetime | None, Query(description="created at or after (UTC when no offset)")
    ] = None,
    created_to: Annotated[datetime | None, Query(description="created before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> JobPageView:
    """Newest first. `failure_reason` (`timeout`, `provider_error`, `cancelled`) filters the
    finalized jobs that failed that way; `outcome` is its older name and also takes
    `succeeded`. Both at once must agree. An unknown query parameter is a 422."""
    if failure_reason is not None:
        if outcome is not None and outcome.value != failure_reason.value:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "failure_reason and outcome disagree",
                {
                    "problems": [
                        {
                            "field": "query.outcome",
                            "message": "outcome is an alias of failure_reason: give one",
                            "type": "conflicting_filters",
                        }
                    ]
                },
            )
        outcome = JobOutcome(failure_reason.value)
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
    """The job with its processing log timeline (complete once the job is final)."""
    deps = await ingest_deps(request)
    job = await current(deps.jobs, job_id)
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id})
    entries = sorted([*job.log, *await deps.jobs.log_of(job_id)], key=lambda e: e.at)
    return job_view(job, entries)


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
        **errors(*ADMIN_ERRORS, 404, 410, 422),
    },
)
async def download_result(job_id: str, request: Request, _: ReadJobs) -> Response:
    """The job's result image (the public link needs the token only the booth received)."""
    deps = await ingest_deps(request)
    job = await deps.jobs.final(job_id)
    if job is None or job.outcome is not JobOutcome.SUCCEEDED:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "no result for this job", {"job_id": job_id})
    return await result_download(job, deps)


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
    """A pending job ends `cancelled` at once; a processing one's provider worker is told to
    stop and ends it `cancelled` within about a second."""
    deps = await ingest_deps(request)
    job = await current(deps.jobs, job_id)
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id})
    changed = await deps.transitions.cancel(job)
    if changed is None:
        final = await deps.jobs.final(job_id)
        raise ApiError(
            ErrorCode.JOB_ALREADY_FINAL,
            "the job is already final",
            {"job_id": job_id, "outcome": final.outcome if final else None},
        )
    return CancelAccepted(job_id=job_id, status=changed.status, cancel_requested=True)
