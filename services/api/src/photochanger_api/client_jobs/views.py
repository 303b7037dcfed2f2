"""What the client job API answers: the job as its client sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from photochanger_contracts import JobStatusChanged
from photochanger_runtime.jobs import Job, JobError, JobStatus
from pydantic import BaseModel, ConfigDict

from ..ingest import client_fields

ClientStatus = Literal[
    "pending", "processing", "succeeded", "timeout", "provider_error", "cancelled"
]


class JobUrls(BaseModel):
    model_config = ConfigDict(frozen=True)

    self: str
    events: str
    #: the result image (same bearer key), once the job has succeeded and until it expires
    result: str


class ClientJobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class ResultView(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str
    mime_type: str
    size_bytes: int
    expires_at: datetime | None


class Timings(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: from the request to the final status, once there is one
    total_ms: float | None = None


class ClientJobView(BaseModel):
    """A job of the calling key."""

    model_config = ConfigDict(frozen=True)

    id: str
    slot_id: str
    status: ClientStatus
    created_at: datetime
    expires_at: datetime
    finalized_at: datetime | None = None
    error: ClientJobError | None = None
    result: ResultView | None = None
    timings: Timings
    metadata: dict[str, str]
    urls: JobUrls


class CancelView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: ClientStatus
    cancel_requested: bool


def client_status(job: Job) -> ClientStatus:
    if job.is_final and job.outcome is not None:
        return job.outcome.value
    return "processing" if job.status is JobStatus.PROCESSING else "pending"


def urls(base: str, job_id: str) -> JobUrls:
    own = f"{base}/v1/jobs/{job_id}"
    return JobUrls(self=own, events=f"{own}/events", result=f"{own}/result")


def job_view(job: Job, base: str, now: datetime) -> ClientJobView:
    links = urls(base, job.id)
    result = None
    if job.result is not None and (job.result_expires_at is None or now < job.result_expires_at):
        result = ResultView(
            url=links.result, mime_type=job.result.mime_type,
            size_bytes=job.result.size_bytes, expires_at=job.result_expires_at,
        )  # fmt: skip
    total = None
    if job.finalized_at is not None:
        total = round((job.finalized_at - job.created_at).total_seconds() * 1000, 1)
    return ClientJobView(
        id=job.id, slot_id=job.slot_id, status=client_status(job), created_at=job.created_at,
        expires_at=job.expires_at, finalized_at=job.finalized_at,
        error=ClientJobError(code=job.error.code, message=job.error.message) if job.error else None,
        result=result, timings=Timings(total_ms=total), metadata=client_fields(job.metadata),
        urls=links,
    )  # fmt: skip


def with_status(job: Job, event: JobStatusChanged) -> Job:
    """The job as its final status event describes it (events carry the state)."""
    error = None
    if event.error_code is not None:
        error = JobError(
            code=event.error_code, message=event.error_message or "",
            provider_status=event.provider_status,
        )  # fmt: skip
    return job.model_copy(
        update={
            "status": event.status, "outcome": event.outcome, "error": error,
            "result": event.result, "finalized_at": event.finalized_at,
            "result_expires_at": event.result_expires_at,
        }
    )  # fmt: skip
