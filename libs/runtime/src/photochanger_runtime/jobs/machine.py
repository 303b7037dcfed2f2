"""The job state machine, as pure functions: which transitions exist, what each one does to
the record, and which events and log entries it emits. No I/O — `JobTransitions` applies the
result (store, log, metrics, Kafka), so every rule here is unit-tested without a server.

    pending ──claim──▶ processing ──succeed──▶ finalized(succeeded)
       │                 │  ▲ take_over (a new attempt, after its owner died)
       │                 │  └ hand_over (to the slot's fallback provider, same deadline)
       └──────fail / time_out / cancel──────▶ finalized(provider_error | timeout | cancelled)

Finalized is final: any later transition raises `IllegalTransition`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from photochanger_contracts import (
    Event,
    JobCancelRequested,
    JobCreated,
    JobOutcome,
    JobSpec,
    JobStatus,
    JobStatusChanged,
    MediaRef,
    ProviderJobRequested,
    TemplateBinding,
    topics,
)
from photochanger_contracts.deadlines import result_expires_at

from .model import Job, JobError, LogEntry


class Transition(StrEnum):
    CLAIM = "claim"
    TAKE_OVER = "take_over"
    HAND_OVER = "hand_over"
    SUCCEED = "succeed"
    FAIL = "fail"
    TIME_OUT = "time_out"
    CANCEL = "cancel"


#: from which states each transition may start (DOMAIN.md "Allowed transitions")
ALLOWED_FROM: Final[dict[Transition, frozenset[JobStatus]]] = {
    Transition.CLAIM: frozenset({JobStatus.PENDING}),
    Transition.TAKE_OVER: frozenset({JobStatus.PROCESSING}),
    Transition.HAND_OVER: frozenset({JobStatus.PROCESSING}),
    # success needs a provider attempt, which needs a claim
    Transition.SUCCEED: frozenset({JobStatus.PROCESSING}),
    Transition.FAIL: frozenset({JobStatus.PENDING, JobStatus.PROCESSING}),
    Transition.TIME_OUT: frozenset({JobStatus.PENDING, JobStatus.PROCESSING}),
    Transition.CANCEL: frozenset({JobStatus.PENDING, JobStatus.PROCESSING}),
}

OUTCOME_OF: Final[dict[Transition, JobOutcome]] = {
    Transition.SUCCEED: JobOutcome.SUCCEEDED,
    Transition.FAIL: JobOutcome.PROVIDER_ERROR,
    Transition.TIME_OUT: JobOutcome.TIMEOUT,
    Transition.CANCEL: JobOutcome.CANCELLED,
}

FINALIZING: Final = frozenset(OUTCOME_OF)


class IllegalTransition(ValueError):
    def __init__(self, transition: Transition, job: Job) -> None:
        super().__init__(f"{transition} is not allowed from {job.status} (job {job.id})")
        self.transition = transition
        self.status = job.status


@dataclass(frozen=True, slots=True)
class Step:
    """A transition's result: the job after it, and what it emits."""

    job: Job
    log: tuple[LogEntry, ...] = ()
    #: (topic, event) pairs to publish, keyed by the job id
    events: tuple[tuple[str, Event], ...] = field(default=())


def allows(status: JobStatus, transition: Transition) -> bool:
    return status in ALLOWED_FROM[transition]


def _check(job: Job, transition: Transition) -> None:
    if not allows(job.status, transition):
        raise IllegalTransition(transition, job)


def _entry(job: Job, event: str, at: datetime, **fields: Any) -> LogEntry:
    return LogEntry.of(
        job_id=job.id, slot_id=job.slot_id, provider=job.provider, event=event, at=at,
        attempt=job.attempt or None, **fields,
    )  # fmt: skip


# -- creation -----------------------------------------------------------------------------


def create(spec: JobSpec, *, now: datetime) -> Step:
    """A new pending job; `JobCreated` sends it to the dispatcher. Its "created" log entry
    is written with the final record (`finalize`), from the record itself."""
    job = Job.from_spec(spec)
    return Step(job=job, events=((topics.JOBS_CREATED, JobCreated(occurred_at=now, job=spec)),))


def _payload_details(payload: MediaRef) -> dict[str, Any]:
    return {"size_bytes": payload.size_bytes, "mime_type": payload.mime_type}


def dispatch(spec: JobSpec, *, now: datetime) -> tuple[str, ProviderJobRequested]:
    """Route a created job to its provider's topic: its first attempt. The request's time is
    the job's "dispatched" log entry (`dispatched_entry`), written by whoever runs it."""
    return topics.provider_requests(spec.provider), ProviderJobRequested(
        occurred_at=now, job=spec, attempt=1
    )


def dispatched_entry(request: ProviderJobRequested) -> LogEntry:
    spec = request.job
    return LogEntry.of(
        job_id=spec.job_id, slot_id=spec.slot_id, provider=spec.provider,
        event="fallback_requested" if request.attempt > 1 else "dispatched",
        at=request.occurred_at, attempt=request.attempt,
        details={"topic": topics.provider_requests(spec.provider)},
    )  # fmt: skip


# -- attempts -----------------------------------------------------------------------------


def claim(job: Job, *, attempt: int, worker_id: str, now: datetime) -> Step:
    """A provider worker owns the job for `attempt`: pending → processing, or a new attempt
    on a processing job (take-over after its owner died, or a fallback provider)."""
    transition = Transition.CLAIM if job.status is JobStatus.PENDING else Transition.TAKE_OVER
    _check(job, transition)
    if attempt <= job.attempt:
        raise IllegalTransition(transition, job)
    claimed = job.model_copy(
        update={"status": JobStatus.PROCESSING, "attempt": attempt, "provider_job_reference": None}
    )
    event = "claimed" if transition is Transition.CLAIM else "taken_over"
    return Step(job=claimed, log=(_entry(claimed, event, now, details={"worker_id": worker_id}),))


def hand_over(
    job: Job,
    *,
    provider: str,
    operation: str,
    settings: dict[str, Any],
    templates: Sequence[TemplateBinding],
    now: datetime,
    reason: JobError,
) -> Step:
    """The job moves to the slot's fallback provider, keeping its deadline: the next attempt
    is that provider's, requested on its topic."""
    _check(job, Transition.HAND_OVER)
    if job.fallback_from is not None and not job.settings.get("fallback"):
        # a fallback hands over only to the next one its settings name (a finite chain)
        raise IllegalTransition(Transition.HAND_OVER, job)
    moved = job.model_copy(
        update={
            "provider": provider, "operation": operation, "settings": settings,
            "templates": tuple(templates), "fallback_from": job.provider,
            "provider_job_reference": None,
        }
    )  # fmt: skip
    entry = _entry(
        job, "fallback", now, error_code=reason.code, error_message=reason.message,
        provider_status=reason.provider_status,
        details={"to_provider": provider, "to_operation": operation},
    )  # fmt: skip
    request = ProviderJobRequested(occurred_at=now, job=moved.spec, attempt=job.attempt + 1)
    return Step(job=moved, log=(entry,), events=((topics.provider_requests(provider), request),))


# -- the end ------------------------------------------------------------------------------


def finalize(
    job: Job,
    transition: Transition,
    *,
    now: datetime,
    finalizer: str,
    result: MediaRef | None = None,
    result_retention_hours: float | None = None,
    error: JobError | None = None,
    log: Sequence[LogEntry] = (),
    by_owner: bool = False,
) -> Step:
    """The job's one final state. Its record carries the whole processing log: what the
    finalizer brings (`log`) after the creation entry, then the final entry. Anyone but the
    attempt that owns the job (`by_owner`) also tells the providers to stop working on it."""
    if transition not in FINALIZING:
        raise ValueError(f"{transition} does not finalize a job")
    _check(job, transition)
    outcome = OUTCOME_OF[transition]
    if (outcome is JobOutcome.SUCCEEDED) != (result is not None):
        raise ValueError("a succeeded job has a result, and only a succeeded job")
    if outcome.is_failure and error is None:
        error = JobError(code=outcome.value, message=f"job {outcome.value}")
    expires = None
    if result is not None:
        if result_retention_hours is None:
            raise ValueError("a result needs its retention")
        expires = result_expires_at(now, result_retention_hours)
    final_entry = _entry(
        job, outcome.value, now,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        provider_status=error.provider_status if error else None,
        details={"finalizer": finalizer},
    )  # fmt: skip
    created = _entry(job, "created", job.created_at, details=_payload_details(job.payload))
    final = job.model_copy(
        update={
            "status": JobStatus.FINALIZED, "outcome": outcome, "error": error, "result": result,
            "finalized_at": now, "result_expires_at": expires,
            "log": (created.model_copy(update={"attempt": None}), *log, final_entry),
        }
    )  # fmt: skip
    events: list[tuple[str, Event]] = [(topics.JOBS_STATUS, status_event(final, now))]
    # the waiting request hears the outcome first; the cancel comes after it
    if not by_owner and (job.status is JobStatus.PROCESSING or outcome.value != "provider_error"):
        # a provider may hold the job (or still get it from its topic): tell it to stop
        cancel = JobCancelRequested(occurred_at=now, job_id=job.id, reason=outcome.value)
        events.append((topics.JOBS_CANCEL, cancel))
    return Step(job=final, log=(final_entry,), events=tuple(events))


def status_event(job: Job, now: datetime) -> JobStatusChanged:
    return JobStatusChanged(
        occurred_at=now, job_id=job.id, slot_id=job.slot_id, provider=job.provider,
        status=job.status, outcome=job.outcome,
        error_code=job.error.code if job.error else None,
        error_message=job.error.message if job.error else None,
        provider_status=job.error.provider_status if job.error else None,
        result=job.result, expires_at=job.expires_at, finalized_at=job.finalized_at,
        result_expires_at=job.result_expires_at, client_key_id=job.client_key_id,
        webhook_url=job.webhook_url,
    )  # fmt: skip


def request_cancel(job: Job) -> Job:
    """Flag a live job so whoever resumes it stops (the cancel event stops its owner)."""
    if job.is_final:
        raise IllegalTransition(Transition.CANCEL, job)
    return job.model_copy(update={"cancel_requested": True})
