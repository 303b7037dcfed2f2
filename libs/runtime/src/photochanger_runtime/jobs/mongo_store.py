"""The job store on a MongoDB-protocol server (MongoDB, or FerretDB as the embedded default).

Collections, each addressed by `_id` on every hot-path command:

    jobs_live        live records (pending / processing); small: a job leaves it when final
    jobs             final records, `_id` = job id: inserting one is the job's final decision
    job_claims       `{job_id}/{attempt}`: inserting one is a worker's claim of that attempt
    workers          provider workers' heartbeats
    processing_logs  log entries written outside a final record (late results, …)

Why inserts decide: FerretDB applies a filtered update by reading the document, changing it
in Go and writing it back by `_id`, so two concurrent "update if still pending" calls can both
succeed (ADR-0006 has the measurement); an insert under a unique `_id` has one winner on every
server. Why `_id` everywhere: FerretDB's SQLite backend answers an `_id` equality from its
primary key and decodes the whole collection for any other filter (ADR-0009); the only filtered
reads left are the sweeps of the two small collections (`jobs_live`, `workers`), and the
search for a stopped worker's recent claims, which only a worker's death sets off.

A successful job costs four commands here: create, claim, finalize, retire."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..mongo import Document
from .model import Job, LogEntry
from .store import Claim, DuplicateJob, WorkerPresence

LIVE = "jobs_live"
FINAL = "jobs"
CLAIMS = "job_claims"
WORKERS = "workers"
LOGS = "processing_logs"


def _doc(job: Job) -> Document:
    doc = job.model_dump(by_alias=True, exclude_none=True)
    doc["join"] = job.join_key or job.id  # unique among live records: never missing
    return doc


def _claim_id(job_id: str, attempt: int) -> str:
    return f"{job_id}/{attempt}"


class MongoJobStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._live = db[LIVE]
        self._final = db[FINAL]
        self._claims = db[CLAIMS]
        self._workers = db[WORKERS]
        self._logs = db[LOGS]

    async def ensure_indexes(self) -> None:
        # The hot path goes by `_id`; these serve the sweeps and the admin views.
        await self._live.create_index([("expires_at", ASCENDING)])
        # one live job per join key (`_doc` gives every record one: its own id by default)
        await self._live.create_index([("join", ASCENDING)], unique=True)
        await self._final.create_index([("created_at", DESCENDING), ("_id", DESCENDING)])
        await self._final.create_index([("slot_id", ASCENDING), ("created_at", DESCENDING)])
        await self._final.create_index(
            [("slot_id", ASCENDING), ("outcome", ASCENDING), ("finalized_at", DESCENDING)]
        )
        await self._workers.create_index([("provider", ASCENDING)])
        await self._claims.create_index([("worker_id", ASCENDING), ("at", ASCENDING)])
        await self._logs.create_index([("job_id", ASCENDING), ("at", ASCENDING)])

    # -- lifecycle writes --------------------------------------------------------------------

    async def create(self, job: Job) -> None:
        try:
            await self._live.insert_one(_doc(job))
        except DuplicateKeyError as exc:
            if job.join_key:  # ids are fresh UUIDs: the join key is what collided
                raise DuplicateJob(job.join_key) from exc
            raise

    async def claim(self, claim: Claim) -> bool:
        try:
            await self._claims.insert_one(
                {
                    "_id": _claim_id(claim.job_id, claim.attempt),
                    "job_id": claim.job_id,
                    "attempt": claim.attempt,
                    "worker_id": claim.worker_id,
                    "provider": claim.provider,
                    "at": claim.at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def record_reference(self, job_id: str, attempt: int, reference: str) -> None:
        await self._claims.update_one(
            {"_id": _claim_id(job_id, attempt)}, {"$set": {"reference": reference}}
        )

    async def update_live(self, job: Job) -> None:
        doc = _doc(job)
        await self._live.replace_one({"_id": doc.pop("_id")}, doc)

    async def finalize(self, job: Job) -> bool:
        try:
            await self._final.insert_one(_doc(job))
        except DuplicateKeyError:
            return False
        return True

    async def retire(self, job_id: str) -> None:
        await self._live.delete_one({"_id": job_id})

    # -- reads -------------------------------------------------------------------------------

    async def live(self, job_id: str) -> Job | None:
        doc = await self._live.find_one({"_id": job_id})
        return Job.model_validate(doc) if doc else None

    async def final(self, job_id: str) -> Job | None:
        doc = await self._final.find_one({"_id": job_id})
        return Job.model_validate(doc) if doc else None

    async def live_by_join_key(self, join_key: str) -> Job | None:
        doc = await self._live.find_one({"join": join_key})
        return Job.model_validate(doc) if doc else None

    async def claim_of(self, job_id: str, attempt: int) -> Claim | None:
        doc = await self._claims.find_one({"_id": _claim_id(job_id, attempt)})
        return _claim(doc) if doc is not None else None

    async def claims_by(self, worker_id: str, since: datetime) -> Sequence[Claim]:
        found = self._claims.find({"worker_id": worker_id, "at": {"$gte": since}})
        return [_claim(doc) async for doc in found]

    async def overdue(self, now: datetime, limit: int) -> Sequence[Job]:
        found = self._live.find({"expires_at": {"$lte": now}}).limit(limit)
        return [Job.model_validate(doc) async for doc in found]

    # -- worker presence ---------------------------------------------------------------------

    async def beat(self, presence: WorkerPresence) -> None:
        await self._workers.replace_one(
            {"_id": presence.worker_id},
            {
                "provider": presence.provider,
                "seen_at": presence.seen_at,
                "holds_key": presence.holds_key,
            },
            upsert=True,
        )

    async def workers(self, provider: str) -> Sequence[WorkerPresence]:
        return [_presence(doc) async for doc in self._workers.find({"provider": provider})]

    async def forget_worker(self, worker_id: str) -> None:
        await self._workers.delete_one({"_id": worker_id})

    # -- processing log entries outside a final record ---------------------------------------

    async def append_log(self, entries: Sequence[LogEntry]) -> None:
        if entries:
            await self._logs.insert_many(
                [e.model_dump(exclude_none=True) for e in entries], ordered=False
            )

    async def log_of(self, job_id: str) -> Sequence[LogEntry]:
        found = self._logs.find({"job_id": job_id}).sort("at", ASCENDING)
        return [LogEntry.model_validate(doc) async for doc in found]


def _presence(doc: dict[str, Any]) -> WorkerPresence:
    return WorkerPresence(
        worker_id=doc["_id"],
        provider=doc["provider"],
        seen_at=doc["seen_at"],
        holds_key=doc.get("holds_key"),
    )


def _claim(doc: dict[str, Any]) -> Claim:
    return Claim(
        job_id=doc["job_id"], attempt=doc["attempt"], worker_id=doc["worker_id"],
        provider=doc["provider"], at=doc["at"], reference=doc.get("reference"),
    )  # fmt: skip
