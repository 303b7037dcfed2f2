"""The job state machine, every transition from every state, without any I/O."""

from __future__ import annotations

import itertools

import pytest
from photochanger_contracts import (
    JobCancelRequested,
    JobCreated,
    JobOutcome,
    JobStatus,
    MediaRef,
    ProviderJobRequested,
    topics,
)
from photochanger_runtime.jobs import (
    IllegalTransition,
    Job,
    JobError,
    LogEntry,
    Transition,
    machine,
)
from photochanger_runtime.jobs.machine import ALLOWED_FROM, FINALIZING, OUTCOME_OF

from tests.support.jobs import T0, spec

RESULT = MediaRef(key="results/202611301400/j.1", mime_type="image/png", size_bytes=9, sha256="a")


def job_in(status: JobStatus) -> Job:
    job = machine.create(spec(), now=T0).job
    if status is JobStatus.PENDING:
        return job
    job = machine.claim(job, attempt=1, worker_id="w", now=T0).job
    if status is JobStatus.PROCESSING:
        return job
    return machine.finalize(job, Transition.FAIL, now=T0, finalizer="t").job


def apply(job: Job, transition: Transition) -> Job:
    if transition in (Transition.CLAIM, Transition.TAKE_OVER):
        return machine.claim(job, attempt=job.attempt + 1, worker_id="w2", now=T0).job
    if transition is Transition.HAND_OVER:
        return machine.hand_over(
            job, provider="turbotext", operation="image_edit", settings={"prompt": "b"},
            templates=(), now=T0, reason=JobError(code="provider_quota_exhausted", message="429"),
        ).job  # fmt: skip
    result = RESULT if transition is Transition.SUCCEED else None
    return machine.finalize(
        job, transition, now=T0, finalizer="t", result=result,
        result_retention_hours=72 if result else None,
    ).job  # fmt: skip


@pytest.mark.parametrize(("status", "transition"), list(itertools.product(JobStatus, Transition)))
def test_every_transition_is_allowed_exactly_from_its_states(
    status: JobStatus, transition: Transition
) -> None:
    job = job_in(status)
    # claim and take-over are one step seen from two states: the state decides which it is
    allowed = (
        status in ALLOWED_FROM[transition]
        or (transition is Transition.CLAIM and status is JobStatus.PROCESSING)
        or (transition is Transition.TAKE_OVER and status is JobStatus.PENDING)
    )
    if allowed:
        after = apply(job, transition)
        expected = JobStatus.FINALIZED if transition in FINALIZING else JobStatus.PROCESSING
        assert after.status is expected
        if transition in FINALIZING:
            assert after.outcome is OUTCOME_OF[transition]
    else:
        with pytest.raises(IllegalTransition):
            apply(job, transition)


def test_a_finalized_job_accepts_no_transition_at_all() -> None:
    final = job_in(JobStatus.FINALIZED)
    for transition in Transition:
        with pytest.raises(IllegalTransition):
            apply(final, transition)
    with pytest.raises(IllegalTransition):
        machine.request_cancel(final)


def test_a_pending_job_cannot_succeed() -> None:
    with pytest.raises(IllegalTransition):
        machine.finalize(
            job_in(JobStatus.PENDING), Transition.SUCCEED, now=T0, finalizer="t", result=RESULT,
            result_retention_hours=72,
        )  # fmt: skip


def test_success_needs_a_result_and_failures_have_none() -> None:
    processing = job_in(JobStatus.PROCESSING)
    with pytest.raises(ValueError, match="result"):
        machine.finalize(processing, Transition.SUCCEED, now=T0, finalizer="t")
    with pytest.raises(ValueError, match="result"):
        machine.finalize(
            processing, Transition.FAIL, now=T0, finalizer="t", result=RESULT,
            result_retention_hours=72,
        )  # fmt: skip


def test_creation_emits_job_created_with_the_whole_spec() -> None:
    created = spec(metadata={"booth": "3"})
    step = machine.create(created, now=T0)
    assert step.job.status is JobStatus.PENDING and step.job.metadata == {"booth": "3"}
    [(topic, event)] = step.events
    assert topic == topics.JOBS_CREATED
    assert isinstance(event, JobCreated) and event.job == created


def test_dispatch_requests_the_first_attempt_on_the_providers_topic() -> None:
    created = spec(provider="turbotext")
    topic, request = machine.dispatch(created, now=T0)
    assert topic == "provider.turbotext.requests"
    assert isinstance(request, ProviderJobRequested)
    assert request.attempt == 1 and request.job == created
    assert machine.dispatched_entry(request).event == "dispatched"


def test_attempts_only_move_forward() -> None:
    processing = job_in(JobStatus.PROCESSING)
    with pytest.raises(IllegalTransition):
        machine.claim(processing, attempt=1, worker_id="late", now=T0)
    taken = machine.claim(processing, attempt=2, worker_id="w2", now=T0)
    assert taken.job.attempt == 2
    assert [e.event for e in taken.log] == ["taken_over"]


def test_hand_over_moves_the_job_once_and_requests_the_next_attempt() -> None:
    step = machine.hand_over(
        job_in(JobStatus.PROCESSING), provider="turbotext", operation="image_edit",
        settings={"prompt": "b"}, templates=(), now=T0,
        reason=JobError(code="provider_quota_exhausted", message="429"),
    )  # fmt: skip
    assert step.job.provider == "turbotext" and step.job.fallback_from == "gemini"
    [(topic, request)] = step.events
    assert topic == "provider.turbotext.requests"
    assert isinstance(request, ProviderJobRequested) and request.attempt == 2
    assert request.job.fallback_from == "gemini" and request.job.expires_at == step.job.expires_at
    with pytest.raises(IllegalTransition):  # the fallback's settings name no next one
        apply(step.job, Transition.HAND_OVER)


def test_success_keeps_the_result_for_its_retention_and_announces_it() -> None:
    step = machine.finalize(
        job_in(JobStatus.PROCESSING), Transition.SUCCEED, now=T0, finalizer="gemini",
        result=RESULT, result_retention_hours=72, by_owner=True,
    )  # fmt: skip
    final = step.job
    assert final.outcome is JobOutcome.SUCCEEDED and final.result == RESULT
    assert final.finalized_at == T0 and (final.result_expires_at - T0).total_seconds() == 72 * 3600
    [(topic, status)] = step.events  # the owner needs no cancel
    assert topic == topics.JOBS_STATUS
    assert status.outcome is JobOutcome.SUCCEEDED and status.result == RESULT


@pytest.mark.parametrize(
    ("status", "transition", "by_owner", "cancels"),
    [
        (JobStatus.PROCESSING, Transition.TIME_OUT, False, True),
        (JobStatus.PENDING, Transition.TIME_OUT, False, True),  # it may still be delivered
        (JobStatus.PENDING, Transition.CANCEL, False, True),
        (JobStatus.PENDING, Transition.FAIL, False, False),  # rejected before any provider
        (JobStatus.PROCESSING, Transition.FAIL, False, True),
        (JobStatus.PROCESSING, Transition.TIME_OUT, True, False),  # the owner stops itself
    ],
)
def test_finalizers_other_than_the_owner_tell_providers_to_stop(
    status: JobStatus, transition: Transition, by_owner: bool, cancels: bool
) -> None:
    step = machine.finalize(job_in(status), transition, now=T0, finalizer="x", by_owner=by_owner)
    topics_sent = [topic for topic, _ in step.events]
    assert topics_sent[0] == topics.JOBS_STATUS  # the waiting request hears it first
    assert (topics.JOBS_CANCEL in topics_sent) is cancels
    if cancels:
        cancel = step.events[-1][1]
        assert isinstance(cancel, JobCancelRequested) and cancel.reason == OUTCOME_OF[transition]


def test_the_final_record_carries_the_whole_log_in_order() -> None:
    processing = job_in(JobStatus.PROCESSING)
    steps = [
        LogEntry.of(job_id=processing.id, slot_id="slot-001", event=e, at=T0)
        for e in ("dispatched", "claimed", "submitted")
    ]
    final = machine.finalize(
        processing, Transition.FAIL, now=T0, finalizer="gemini", log=steps,
        error=JobError(code="provider_rejected", message="400"),
    ).job  # fmt: skip
    assert [e.event for e in final.log] == [
        "created", "dispatched", "claimed", "submitted", "provider_error",
    ]  # fmt: skip
    assert final.log[-1].error_code == "provider_rejected"
    assert final.log[0].details == {"size_bytes": 3, "mime_type": "image/jpeg"}


def test_failures_always_carry_an_error() -> None:
    final = machine.finalize(
        job_in(JobStatus.PENDING), Transition.TIME_OUT, now=T0, finalizer="api"
    )
    assert final.job.error is not None and final.job.failure_reason is JobOutcome.TIMEOUT
    status = final.events[0][1]
    assert status.error_code == "timeout" and status.expires_at == final.job.expires_at


def test_a_cancel_request_flags_a_live_job() -> None:
    assert machine.request_cancel(job_in(JobStatus.PROCESSING)).cancel_requested is True
