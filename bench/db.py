"""Every database read the benchmark makes, in one place (the job store's layout is
ADR-0012; adapt the names here and nothing else).

What the bench relies on:
- ``jobs``: final records keyed by ``_id`` = the job id the api returns (``X-Job-Id`` header,
  or ``error.details.job_id``), with ``status`` :data:`FINAL_STATUS`, ``expires_at``,
  ``outcome``, and the job's processing log in ``log`` (entries with ``event``, ``at`` and,
  on some events, ``duration_ms``);
- ``jobs_live``: records of jobs not final yet (same ``_id``);
- ``processing_logs`` (optional): entries written after a final record (``job_id``, …).
  Missing events, fields or collections only make the per-hop breakdown poorer;
- ``slots``: the slot's ``settings.model`` / ``settings.prompt`` for the direct emulator
  baseline (defaults when missing).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient

from bench.stats import percentile

JOBS = "jobs"
LIVE_JOBS = "jobs_live"
EMBEDDED_LOG = "log"
STATUS = "status"
FINAL_STATUS = "finalized"
DEADLINE = "expires_at"
OUTCOME = "outcome"

LOG = "processing_logs"
LOG_JOB = "job_id"
LOG_EVENT = "event"
LOG_AT = "at"
LOG_DURATION = "duration_ms"
#: log events whose ``duration_ms`` is the provider call itself (subtracted for the
#: per-job overhead); the first one found in a job's log is used
PROVIDER_CALL_EVENTS: tuple[str, ...] = ("submitted",)

SLOTS = "slots"

_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])


def _ts(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


@dataclass(frozen=True, slots=True)
class JobState:
    status: str | None
    deadline: float | None  # epoch seconds
    outcome: str | None

    @property
    def final(self) -> bool:
        return self.status == FINAL_STATUS


@dataclass(frozen=True, slots=True)
class LogEntry:
    event: str
    at: float  # epoch seconds
    duration_ms: float | None


class Database:
    """One connection to the platform's database (``async with Database(uri, name) as db``)."""

    def __init__(self, uri: str, name: str) -> None:
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        self._db = self._client[name]
        self.name = name

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def slot_settings(self, slot_id: str) -> dict[str, Any]:
        doc = await self._db[SLOTS].find_one({"_id": slot_id}, {"settings": 1})
        settings = (doc or {}).get("settings")
        return settings if isinstance(settings, dict) else {}

    async def job_states(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The jobs that exist among ``job_ids``, by id."""
        found: dict[str, JobState] = {}
        projection = {"_id": 1, STATUS: 1, DEADLINE: 1, OUTCOME: 1}
        for collection in (LIVE_JOBS, JOBS):  # a final record wins over a live one
            for chunk in _chunks(job_ids):
                async for doc in self._db[collection].find({"_id": {"$in": chunk}}, projection):
                    outcome = doc.get(OUTCOME)
                    found[str(doc["_id"])] = JobState(
                        status=str(doc[STATUS]) if doc.get(STATUS) is not None else None,
                        deadline=_ts(doc.get(DEADLINE)),
                        outcome=str(outcome) if outcome is not None else None,
                    )
        return found

    async def count_jobs(self) -> int:
        final = int(await self._db[JOBS].count_documents({}))
        return final + int(await self._db[LIVE_JOBS].count_documents({}))

    async def log_entries(self, job_ids: Sequence[str]) -> dict[str, list[LogEntry]]:
        """Processing-log entries of these jobs, by job id (empty when there is no log)."""
        entries: dict[str, list[LogEntry]] = {}

        def add(job_id: str, doc: dict[str, Any]) -> None:
            at = _ts(doc.get(LOG_AT))
            if at is None or doc.get(LOG_EVENT) is None:
                return
            duration = doc.get(LOG_DURATION)
            entries.setdefault(job_id, []).append(
                LogEntry(
                    event=str(doc[LOG_EVENT]),
                    at=at,
                    duration_ms=float(duration) if isinstance(duration, int | float) else None,
                )
            )

        for chunk in _chunks(job_ids):
            found = self._db[JOBS].find({"_id": {"$in": chunk}}, {EMBEDDED_LOG: 1})
            async for doc in found:
                for entry in doc.get(EMBEDDED_LOG) or ():
                    add(str(doc["_id"]), entry)
        projection = {"_id": 0, LOG_JOB: 1, LOG_EVENT: 1, LOG_AT: 1, LOG_DURATION: 1}
        for chunk in _chunks(job_ids):
            async for doc in self._db[LOG].find({LOG_JOB: {"$in": chunk}}, projection):
                add(str(doc[LOG_JOB]), doc)
        return entries

    async def probe(self, *, repeats: int = 10) -> dict[str, Any]:
        """Collection sizes, and the median time of a job read by ``_id`` at that size."""
        sizes: dict[str, int] = {}
        for name in sorted(await self._db.list_collection_names()):
            sizes[name] = int(await self._db[name].estimated_document_count())
        result: dict[str, Any] = {"collection_sizes": sizes}
        job = await self._db[JOBS].find_one({}, {"_id": 1})
        if job is not None:
            timings: list[float] = []
            for _ in range(repeats):
                started = time.perf_counter()
                await self._db[JOBS].find_one({"_id": job["_id"]})
                timings.append((time.perf_counter() - started) * 1000)
            result["jobs_find_by_id_ms_p50"] = round(percentile(timings, 50) or 0.0, 2)
        return result

    async def drop(self) -> None:
        """Drop this whole database (a finished scenario's data, to free the disk)."""
        await self._client.drop_database(self.name)
