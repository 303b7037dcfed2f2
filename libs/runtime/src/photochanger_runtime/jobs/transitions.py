"""`JobTransitions`: the only code that changes a job.

Each method takes a step of the state machine (`machine.py`), makes it durable in the
`JobStore`, counts it in the metrics and publishes the events it emits. The api, the
dispatcher, the provider runtime, the reaper and admin cancel all go through here, so a job's
state has one owner whatever process touches it.

Finalizing is decided by the store (one winner per job); the winner then publishes the status
event at once — the waiting request is answered from it — and tidies up after: the live record
and the ingest photo go."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import trace
from photochanger_contracts import (
    Event,
    JobCancelRequested,
    JobCreated,
    JobSpec,
    JobStatus,
    MediaRef,
    ProviderJobRequested,
    TemplateBinding,
    topics,
)

from ..clock import Clock
from ..media import MediaStore
from ..observability import metrics
from . import machine
from .machine import Transition
from .model import Job, JobError, LogEntry
from .store import Claim, DuplicateJob, JobStore

log = logging.getLogger(__name__)


class EventBus(Protocol):
    async def publish(self, topic: str, event: Event, *, key: str) -> None: ...


class PublishFailed(Exception):
    """The job could not be queued; it was finalized as a provider error."""


class RecordUncertain(Exception):
    """Writing the job's record failed, and the write may have landed all the same (the
    database took it, then the connection or the time ran out). Nothing was queued; once the
    database answers again, `settle_uncertain(job)` finalizes the record if it exists."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"the record of job {job.id} may or may not exist")
        self.job = job


#: why a job whose record was not confirmed ends failed (it was never queued)
RECORD_UNCONFIRMED = JobError(
    code="record_unconfirmed",
    message="the database did not confirm the job's record; it was never queued",
)


@dataclass(frozen=True, slots=True)
class JobTransitions:
    store: JobStore
    bus: EventBus
    media: MediaStore
    clock: Clock

    # -- creation and routing ----------------------------------------------------------------

    async def create(self, spec: JobSpec) -> Job:
        """Record the job, then queue it. The record exists before any event names it; when
        the queue refuses, the job is finalized (never left pending) and PublishFailed raised;
        when the record's write fails, RecordUncertain (see `settle_uncertain`)."""
        step = machine.create(spec, now=self.clock.now())
        try:
            await self.store.create(step.job)
        except DuplicateJob:
            raise  # nothing was written: the caller joins the live job
        except Exception as exc:
            raise RecordUncertain(step.job) from exc
        metrics.JOBS_CREATED.labels(slot_id=spec.slot_id, provider=spec.provider).inc()
        try:
            await self._publish(step.job.id, step.events)
        except Exception as exc:
            log.error("JobCreated not published", extra={"error": type(exc).__name__})
            await self.finalize(
                step.job, Transition.FAIL, finalizer="api", announce=False,
                error=JobError(code="publish_failed", message="the job could not be queued"),
            )  # fmt: skip
            raise PublishFailed(spec.job_id) from exc
        return step.job

    async def settle_uncertain(self, job: Job) -> Job | None:
        """After `RecordUncertain`: a record that landed is finalized as failed (nobody will
        queue it, and its request was refused), one that did not leaves only its photo,
        which goes. Returns the final job, or None when there was no record. Raises while
        the database is still away; the caller retries."""
        if await self.store.live(job.id) is None:
            if await self.store.final(job.id) is None:
                await self._forget_photo(job)
            return None
        return await self.finalize(
            job, Transition.FAIL, finalizer="api", announce=False, error=RECORD_UNCONFIRMED
        )

    async def _forget_photo(self, job: Job) -> None:
        try:
            await self.media.delete(job.payload.key)
        except Exception:  # the expiry sweep deletes it with its bucket
            log.warning("ingest photo not deleted", exc_info=True)

    async def dispatch(self, created: JobCreated) -> None:
        topic, request = machine.dispatch(created.job, now=self.clock.now())
        await self.bus.publish(topic, request, key=created.job.job_id)
        metrics.DISPATCHED.labels(provider=created.job.provider).inc()

    # -- attempts ----------------------------------------------------------------------------

    async def claim(
        self, request: ProviderJobRequested, *, worker_id: str
    ) -> tuple[Job, tuple[LogEntry, ...]] | None:
        """Own the requested attempt; None when another worker has it. Returns the job as
        the request describes it, now processing, with the log entries so far."""
        now = self.clock.now()
        job = Job.from_spec(request.job, attempt=request.attempt - 1)
        if request.attempt > 1:  # a fallback provider's attempt on a processing job
            job = job.model_copy(update={"status": JobStatus.PROCESSING})
        step = machine.claim(job, attempt=request.attempt, worker_id=worker_id, now=now)
        won = await self.store.claim(
            Claim(job_id=job.id, attempt=request.attempt, worker_id=worker_id,
                  provider=job.provider, at=now)
        )  # fmt: skip
        if not won:
            return None
        return step.job, (machine.dispatched_entry(request), *step.log)

    async def take_over(
        self, job_id: str, *, after_attempt: int, worker_id: str, provider: str
    ) -> tuple[Job, tuple[LogEntry, ...]] | None:
        """Own the next attempt of a job whose worker stopped (its heartbeat went stale);
        None when the job is final, moved elsewhere, or another worker was faster. The job
        keeps the provider reference the dead attempt recorded, so it is resumed, never
        submitted again."""
        live = await self.store.live(job_id)
        if live is None or live.provider != provider or await self.store.final(job_id):
            return None
        previous = await self.store.claim_of(job_id, after_attempt)
        if previous is None:
            return None
        job = live.model_copy(update={"status": JobStatus.PROCESSING, "attempt": after_attempt})
        now = self.clock.now()
        step = machine.claim(job, attempt=after_attempt + 1, worker_id=worker_id, now=now)
        won = await self.store.claim(
            Claim(job_id=job_id, attempt=after_attempt + 1, worker_id=worker_id,
                  provider=job.provider, at=now, reference=previous.reference)
        )  # fmt: skip
        if not won:
            return None
        resumed = step.job.model_copy(update={"provider_job_reference": previous.reference})
        if previous.reference is not None:
            await self.store.record_reference(job_id, after_attempt + 1, previous.reference)
        return resumed, step.log

    async def record_reference(self, job: Job, reference: str) -> Job:
        """The provider accepted the job under `reference`: recorded before anyone polls,
        so a worker that takes over resumes it instead of submitting again."""
        await self.store.record_reference(job.id, job.attempt, reference)
        return job.model_copy(update={"provider_job_reference": reference})

    async def hand_over(
        self,
        job: Job,
        *,
        provider: str,
        operation: str,
        settings: dict[str, Any],
        templates: Sequence[TemplateBinding],
        reason: JobError,
    ) -> LogEntry:
        """Send the job to the slot's fallback provider (its next attempt)."""
        step = machine.hand_over(
            job, provider=provider, operation=operation, settings=settings, templates=templates,
            now=self.clock.now(), reason=reason,
        )  # fmt: skip
        await self.store.update_live(step.job)
        await self._publish(job.id, step.events)
        return step.log[0]

    # -- the end -----------------------------------------------------------------------------

    async def finalize(
        self,
        job: Job,
        transition: Transition,
        *,
        finalizer: str,
        result: MediaRef | None = None,
        result_retention_hours: float | None = None,
        error: JobError | None = None,
        log_entries: Sequence[LogEntry] = (),
        by_owner: bool = False,
        announce: bool = True,
    ) -> Job | None:
        """Give the job its final state; None when it had one already (nothing changes then).
        `announce=False` publishes no status event: for a caller that just saw Kafka fail and
        answers the one waiting request itself.

        Safe to retry after a database error: when the owner's first try landed unseen (the
        database took the write, then the connection went), the retry finds that record and
        completes it — one record, one status event — instead of refusing it."""
        now = self.clock.now()
        step = machine.finalize(
            job, transition, now=now, finalizer=finalizer, result=result,
            result_retention_hours=result_retention_hours, error=error, log=log_entries,
            by_owner=by_owner,
        )  # fmt: skip
        final = step.job.model_copy(update={"log": _traced(step.job.log, job)})
        events = step.events
        if not await self.store.finalize(final):
            landed = await self._landed_before(final, by_owner=by_owner)
            if landed is None:
                return None
            final = landed
            events = ((topics.JOBS_STATUS, machine.status_event(landed, now)),)
        assert final.outcome is not None
        metrics.JOBS_FINALIZED.labels(
            outcome=final.outcome.value, slot_id=final.slot_id, provider=final.provider
        ).inc()
        if transition is Transition.TIME_OUT:
            metrics.TIMEOUTS.labels(finalizer=finalizer).inc()
        try:
            if announce:
                await self._publish(final.id, events)
        except Exception:  # waiting requests re-read the job; providers stop at the deadline
            log.warning("final status not published", extra={"outcome": final.outcome.value})
        await self.tidy(final)
        return final

    async def _landed_before(self, final: Job, *, by_owner: bool) -> Job | None:
        """The stored final record when it is this very decision — the attempt's owner gave
        the job this outcome, and no one else can finalize for that attempt under its name —
        so a retried write whose first try landed; None when someone else finalized the job."""
        if not by_owner:
            return None
        stored = await self.store.final(final.id)
        if (
            stored is None
            or stored.attempt != final.attempt
            or stored.outcome is not final.outcome
            or _finalizer(stored) != _finalizer(final)
        ):
            return None
        return stored

    async def tidy(self, final: Job) -> None:
        """What a final job no longer needs: its live record and its ingest photo. Safe to
        repeat; whatever a crash leaves here the reaper finishes."""
        await self.store.retire(final.id)
        await self._forget_photo(final)

    async def cancel(self, job: Job) -> Job | None:
        """Admin cancel. A pending job is finalized at once; a processing one is flagged and
        its owner told to stop (it finalizes the job as cancelled). None when already final."""
        if job.is_final:
            return None
        if job.status is JobStatus.PENDING:
            final = await self.finalize(
                job, Transition.CANCEL, finalizer="admin",
                error=JobError(code="cancelled", message="cancelled by an admin"),
            )  # fmt: skip
            if final is not None:
                return final
        flagged = machine.request_cancel(job)
        await self.store.update_live(flagged)
        cancel = JobCancelRequested(occurred_at=self.clock.now(), job_id=job.id, reason="admin")
        await self.bus.publish(topics.JOBS_CANCEL, cancel, key=job.id)
        return flagged

    async def note(self, entries: Sequence[LogEntry]) -> None:
        """Log entries that come after a job's final record (a late result, a cancel call)."""
        if not entries:
            return
        try:
            await self.store.append_log(_traced(entries, None))
        except Exception:
            log.warning("processing log entries not written", exc_info=True)

    async def _publish(self, job_id: str, events: Sequence[tuple[str, Event]]) -> None:
        for topic, event in events:
            await self.bus.publish(topic, event, key=job_id)


def _traced(entries: Sequence[LogEntry], job: Job | None) -> tuple[LogEntry, ...]:
    """Entries carry the job's trace id: the current span's, else the one its ingest request
    started (the reaper finalizes outside any trace)."""
    ctx = trace.get_current_span().get_span_context()
    trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
    if trace_id is None and job is not None and job.trace_parent:
        parts = job.trace_parent.split("-")
        trace_id = parts[1] if len(parts) == 4 else None
    if trace_id is None:
        return tuple(entries)
    return tuple(e if e.trace_id else e.model_copy(update={"trace_id": trace_id}) for e in entries)


def _finalizer(final: Job) -> object:
    """Who finalized the job, as its final log entry records it."""
    return final.log[-1].details.get("finalizer") if final.log and final.log[-1].details else None
