"""The in-memory job store: the `JobStore` contract without a server, for unit tests of
the state machine, the one writer and everything that drives them. One event loop, no
awaits inside a write: every write is atomic by construction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from .model import Job, LogEntry
from .store import Claim, DuplicateJob, WorkerPresence


class InMemoryJobStore:
    def __init__(self) -> None:
        self.live_jobs: dict[str, Job] = {}
        self.final_jobs: dict[str, Job] = {}
        self.claims: dict[tuple[str, int], Claim] = {}
        self.presence: dict[str, WorkerPresence] = {}
        self.entries: list[LogEntry] = []
        #: every write, in order: what a test of "how many database commands" counts
        self.writes: list[str] = []

    async def create(self, job: Job) -> None:
        if job.id in self.live_jobs or job.id in self.final_jobs:
            raise ValueError(f"job {job.id} exists")
        if job.join_key and any(j.join_key == job.join_key for j in self.live_jobs.values()):
            raise DuplicateJob(job.join_key)
        self.writes.append("create")
        self.live_jobs[job.id] = job

    async def claim(self, claim: Claim) -> bool:
        self.writes.append("claim")
        key = (claim.job_id, claim.attempt)
        if key in self.claims:
            return False
        self.claims[key] = claim
        return True

    async def record_reference(self, job_id: str, attempt: int, reference: str) -> None:
        self.writes.append("record_reference")
        found = self.claims.get((job_id, attempt))
        if found is not None:
            self.claims[(job_id, attempt)] = replace(found, reference=reference)

    async def update_live(self, job: Job) -> None:
        self.writes.append("update_live")
        if job.id in self.live_jobs:
            self.live_jobs[job.id] = job

    async def finalize(self, job: Job) -> bool:
        self.writes.append("finalize")
        if job.id in self.final_jobs:
            return False
        self.final_jobs[job.id] = job
        return True

    async def retire(self, job_id: str) -> None:
        self.writes.append("retire")
        self.live_jobs.pop(job_id, None)

    async def live(self, job_id: str) -> Job | None:
        return self.live_jobs.get(job_id)

    async def final(self, job_id: str) -> Job | None:
        return self.final_jobs.get(job_id)

    async def live_by_join_key(self, join_key: str) -> Job | None:
        return next((j for j in self.live_jobs.values() if j.join_key == join_key), None)

    async def claim_of(self, job_id: str, attempt: int) -> Claim | None:
        return self.claims.get((job_id, attempt))

    async def claims_by(self, worker_id: str, since: datetime) -> Sequence[Claim]:
        return [c for c in self.claims.values() if c.worker_id == worker_id and c.at >= since]

    async def overdue(self, now: datetime, limit: int) -> Sequence[Job]:
        due = sorted(
            (j for j in self.live_jobs.values() if j.expires_at <= now), key=lambda j: j.expires_at
        )
        return due[:limit]

    async def beat(self, presence: WorkerPresence) -> None:
        self.writes.append("beat")
        self.presence[presence.worker_id] = presence

    async def workers(self, provider: str) -> Sequence[WorkerPresence]:
        return [p for p in self.presence.values() if p.provider == provider]

    async def forget_worker(self, worker_id: str) -> None:
        self.presence.pop(worker_id, None)

    async def append_log(self, entries: Sequence[LogEntry]) -> None:
        if entries:
            self.writes.append("append_log")
            self.entries.extend(entries)

    async def log_of(self, job_id: str) -> Sequence[LogEntry]:
        return sorted((e for e in self.entries if e.job_id == job_id), key=lambda e: e.at)
