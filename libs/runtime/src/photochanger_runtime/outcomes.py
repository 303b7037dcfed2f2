"""Finalizing a job from outside the provider runtime (api deadline, dispatcher rejection,
reaper, cancel): one conditional update, one log entry, one status event, and for jobs that
may still have provider work in flight, a cancel request."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    JobCancelRequested,
    JobOutcome,
    JobStatus,
    JobStatusChanged,
    topics,
)

from . import metrics
from .broker import publish
from .clock import Clock
from .job_repository import Job, JobError, JobRepository
from .processing_log import ProcessingLog

log = logging.getLogger(__name__)


async def finalize_and_announce(
    *,
    job: Job,
    outcome: JobOutcome,
    error: JobError,
    finalizer: str,
    jobs: JobRepository,
    processing_log: ProcessingLog,
    broker: KafkaBroker,
    clock: Clock,
) -> Job | None:
    """Finalize `job` unless it is final already; None when someone else got there first."""
    now = clock.now()
    final = await jobs.finalize(job.id, outcome, now=now, error=error)
    if final is None:
        return None
    metrics.JOBS_FINALIZED.labels(
        outcome=outcome.value, slot_id=job.slot_id, provider=job.provider
    ).inc()
    if outcome is JobOutcome.TIMEOUT:
        metrics.TIMEOUTS.labels(finalizer=finalizer).inc()
    await processing_log.append(
        job_id=job.id, slot_id=job.slot_id, provider=job.provider, event=outcome.value, at=now,
        error_code=error.code, error_message=error.message, details={"finalizer": finalizer},
    )  # fmt: skip
    try:
        await processing_log.flush()
        if job.status is JobStatus.PROCESSING or outcome is not JobOutcome.PROVIDER_ERROR:
            await publish(
                broker,
                topics.JOBS_CANCEL,
                JobCancelRequested(occurred_at=now, job_id=job.id, reason=outcome.value),
                key=job.id,
            )
        await publish(
            broker,
            topics.JOBS_STATUS,
            JobStatusChanged(
                occurred_at=now, job_id=job.id, slot_id=job.slot_id, status=JobStatus.FINALIZED,
                outcome=outcome, error_code=error.code, error_message=error.message,
            ),
            key=job.id,
        )  # fmt: skip
    except Exception:  # waiting requests re-read the job; providers stop at the deadline
        log.warning("final status not published", extra={"outcome": outcome.value})
    return final
