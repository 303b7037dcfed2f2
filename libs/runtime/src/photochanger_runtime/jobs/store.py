"""Where jobs are recorded: the `JobStore` interface every backend implements.

A job has a live record while it is pending or processing, and a final record once it has an
outcome. The two writes that must have exactly one winner — a claim of an attempt, and the
final record — are *inserts under a unique key*: atomic on every MongoDB-protocol server,
including FerretDB, whose conditional updates are not (ADR-0006). Every other write is
addressed by key and contested by nobody. The store decides nothing else: which transition is
allowed is the state machine's business (`machine.py`), applying it is `JobTransitions`'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from photochanger_contracts import JobStatus

from .model import Job, LogEntry


class DuplicateJob(Exception):
    """A live job with the same join key exists (the same photo sent to the same slot while
    its job runs): join that one instead of running a second."""

    def __init__(self, join_key: str) -> None:
        super().__init__("a live job with this join key exists")
        self.join_key = join_key


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's claim on one attempt of a job."""

    job_id: str
    attempt: int
    worker_id: str
    provider: str
    at: datetime
    #: the provider's id of the remote job (Turbotext `queueid`), once submitted
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerPresence:
    """A provider worker's heartbeat: alive at `seen_at`. What it owns are its claims."""

    worker_id: str
    provider: str
    seen_at: datetime
    #: whether this worker's process holds its provider's API key (its own environment or
    #: Secret): the api reports the fleet's truth from these, not its own environment.
    #: None: a worker that does not say.
    holds_key: bool | None = None


class JobStore(Protocol):
    # -- lifecycle writes --------------------------------------------------------------------
    async def create(self, job: Job) -> None:
        """Record a new live job; `DuplicateJob` when a live job has its join key."""
        ...

    async def claim(self, claim: Claim) -> bool:
        """True for exactly one caller per (job, attempt)."""
        ...

    async def record_reference(self, job_id: str, attempt: int, reference: str) -> None: ...

    async def update_live(self, job: Job) -> None:
        """Rewrite a live record (hand-over, cancel flag); nothing if it is gone."""
        ...

    async def finalize(self, job: Job) -> bool:
        """Record the final state; True for exactly one caller per job."""
        ...

    async def retire(self, job_id: str) -> None:
        """Drop the live record of a finalized job (idempotent)."""
        ...

    # -- reads -------------------------------------------------------------------------------
    async def live(self, job_id: str) -> Job | None: ...

    async def final(self, job_id: str) -> Job | None: ...

    async def live_by_join_key(self, join_key: str) -> Job | None: ...

    async def claim_of(self, job_id: str, attempt: int) -> Claim | None: ...

    async def claims_by(self, worker_id: str, since: datetime) -> Sequence[Claim]:
        """A worker's claims made at or after `since` (a stopped worker's jobs to resume;
        no job lives longer than the longest deadline, so older claims are of no use)."""
        ...

    async def overdue(self, now: datetime, limit: int) -> Sequence[Job]:
        """Live records whose deadline has passed (their job may be final already, when its
        finalizer stopped before retiring it)."""
        ...

    # -- worker presence ---------------------------------------------------------------------
    async def beat(self, presence: WorkerPresence) -> None: ...

    async def workers(self, provider: str) -> Sequence[WorkerPresence]: ...

    async def forget_worker(self, worker_id: str) -> None: ...

    # -- processing log entries written outside a final record ------------------------------
    async def append_log(self, entries: Sequence[LogEntry]) -> None: ...

    async def log_of(self, job_id: str) -> Sequence[LogEntry]: ...


async def current(store: JobStore, job_id: str) -> Job | None:
    """The job as it stands: its final record, or its live record with the state its claims
    give it (processing, at the latest claimed attempt)."""
    final = await store.final(job_id)
    if final is not None:
        return final
    job = await store.live(job_id)
    if job is None:
        return None
    attempt = job.attempt
    while (claim := await store.claim_of(job_id, attempt + 1)) is not None:
        attempt = claim.attempt
        reference = claim.reference
        job = job.model_copy(
            update={
                "status": JobStatus.PROCESSING,
                "attempt": attempt,
                "provider_job_reference": reference,
            }
        )
    # a final record written after the live read wins
    return await store.final(job_id) or job
