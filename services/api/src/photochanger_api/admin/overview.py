"""The statistics overview: every slot, the whole platform, a time series and the latest
failures over any window, in one request (the console's statistics page and dashboard).

Counts are exact: one `$match` + `$group` with a single `$sum` per job collection, grouped by
(slot, status, outcome) — FerretDB computes only the first accumulator of a `$group`. Latency
percentiles, the time series and the latest failures come from one bounded read of the
window's newest final records (a few small fields each); `sampled`/`truncated` say how many
were read. A slot whose statistics were reset inside the window is counted again from its
reset. Last success and last error are not bound to the window: two indexed `find_one` per
slot (`slot_id, outcome, finalized_at`)."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from photochanger_contracts import JobOutcome
from photochanger_runtime.configuration.slots import Slot
from photochanger_runtime.jobs.mongo_store import FINAL, LIVE
from photochanger_runtime.mongo import Document
from pydantic import BaseModel, ConfigDict, Field
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ..database_deadlines import patiently
from .stats import Counts, counts_of, latency_of

MAX_WINDOW_MINUTES = 30 * 24 * 60
MAX_BUCKETS = 200
RECENT_FAILURES = 20
_FAILURES = [JobOutcome.TIMEOUT.value, JobOutcome.PROVIDER_ERROR.value]
_SAMPLE_FIELDS = {
    "slot_id": 1, "provider": 1, "outcome": 1, "created_at": 1, "finalized_at": 1,
    "error": 1, "_id": 1,
}  # fmt: skip


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class LastSuccess(_View):
    job_id: str
    at: datetime


class LastError(_View):
    job_id: str
    at: datetime
    outcome: JobOutcome
    error_code: str | None
    message: str | None


class SlotOverview(Counts):
    slot_id: str
    name: str
    provider: str
    operation: str
    is_active: bool
    #: when the slot's statistics were last reset (counted from then on inside the window)
    reset_at: datetime | None
    last_success: LastSuccess | None
    last_error: LastError | None


class SeriesPoint(_View):
    start: datetime
    by_outcome: dict[str, int]


class RecentFailure(_View):
    job_id: str
    slot_id: str
    provider: str
    outcome: JobOutcome
    error_code: str | None
    provider_status: str | None
    message: str | None
    created_at: datetime
    finalized_at: datetime | None


class Overview(_View):
    generated_at: datetime
    since: datetime
    until: datetime
    minutes: int
    bucket_seconds: int
    #: the slot deadline (T_sync_response) new jobs get, for reading latencies against it
    deadline_seconds: float
    #: final records read for latency, series and failures, and whether the window had more
    sampled: int
    truncated: bool
    totals: Counts
    slots: list[SlotOverview]
    series: list[SeriesPoint] = Field(description="final jobs per bucket, by creation time")
    recent_failures: list[RecentFailure] = Field(description="newest first, at most 20")


def bucket_seconds(minutes: int, buckets: int) -> int:
    """Bucket width: the window split into at most `buckets` whole-minute (or, for windows
    under an hour, whole-second) steps."""
    seconds = minutes * 60
    width = math.ceil(seconds / max(1, buckets))
    return max(60, math.ceil(width / 60) * 60) if seconds >= 3600 else max(1, width)


def series(
    rows: Iterable[tuple[datetime, str]], since: datetime, until: datetime, width: int
) -> list[SeriesPoint]:
    """Counts of final jobs by outcome per bucket of `width` seconds from `since`."""
    count = max(1, math.ceil((until - since).total_seconds() / width))
    buckets: list[dict[str, int]] = [{o.value: 0 for o in JobOutcome} for _ in range(count)]
    for created_at, outcome in rows:
        index = int((created_at - since).total_seconds() // width)
        if 0 <= index < count and outcome in buckets[index]:
            buckets[index][outcome] += 1
    return [
        SeriesPoint(start=since + timedelta(seconds=n * width), by_outcome=b)
        for n, b in enumerate(buckets)
    ]


class StatsOverview:
    def __init__(self, db: AsyncDatabase[Document], *, sample: int = 5000) -> None:
        self._jobs = db[FINAL]
        self._live = db[LIVE]
        self._resets = db["slot_stats_resets"]
        self._sample = sample

    async def _groups(self, match: Document) -> dict[str, list[tuple[str | None, str | None, int]]]:
        pipeline: list[Document] = [
            {"$match": match},
            {
                "$group": {
                    "_id": {"slot": "$slot_id", "status": "$status", "outcome": "$outcome"},
                    "n": {"$sum": 1},
                }
            },
        ]
        groups: dict[str, list[tuple[str | None, str | None, int]]] = defaultdict(list)
        for collection in (self._jobs, self._live):
            async for row in await collection.aggregate(pipeline):
                key = row["_id"]
                groups[str(key.get("slot"))].append(
                    (key.get("status"), key.get("outcome"), int(row["n"]))
                )
        return groups

    async def _last(self, slot_id: str) -> tuple[LastSuccess | None, LastError | None]:
        fields = {"finalized_at": 1, "outcome": 1, "error": 1}
        newest = [("finalized_at", DESCENDING)]
        success, failure = await asyncio.gather(
            self._jobs.find_one(
                {"slot_id": slot_id, "outcome": JobOutcome.SUCCEEDED.value}, fields, sort=newest
            ),
            self._jobs.find_one(
                {"slot_id": slot_id, "outcome": {"$in": _FAILURES}}, fields, sort=newest
            ),
        )
        last_success = (
            LastSuccess(job_id=success["_id"], at=success["finalized_at"]) if success else None
        )
        last_error = None
        if failure:
            error = failure.get("error") or {}
            last_error = LastError(
                job_id=failure["_id"],
                at=failure["finalized_at"],
                outcome=failure["outcome"],
                error_code=error.get("code"),
                message=error.get("message"),
            )
        return last_success, last_error

    @patiently
    async def compute(
        self,
        slots: Sequence[Slot],
        *,
        now: datetime,
        minutes: int,
        buckets: int,
        deadline_seconds: float,
    ) -> Overview:
        since = now - timedelta(minutes=minutes)
        window: Document = {"created_at": {"$gte": since, "$lte": now}}
        resets = {d["_id"]: d["reset_at"] async for d in self._resets.find({})}
        groups = await self._groups(window)
        platform_wide = [g for rows_ in groups.values() for g in rows_]  # resets are per slot
        for slot_id, reset_at in resets.items():
            if reset_at > since:  # counted again from the reset
                fresh = await self._groups({**window, "created_at": {"$gte": reset_at, "$lte": now},
                                            "slot_id": slot_id})  # fmt: skip
                groups[slot_id] = fresh.get(slot_id, [])

        cursor = self._jobs.find(window, _SAMPLE_FIELDS).sort("created_at", DESCENDING)
        rows = [r async for r in cursor.limit(self._sample)]
        durations: dict[str, list[float]] = defaultdict(list)
        every_duration: list[float] = []
        failures: list[RecentFailure] = []
        for row in rows:
            slot_id, outcome = str(row.get("slot_id")), row.get("outcome")
            if outcome == JobOutcome.SUCCEEDED.value and row.get("finalized_at") is not None:
                ms = (row["finalized_at"] - row["created_at"]).total_seconds() * 1000
                every_duration.append(ms)
                if slot_id not in resets or row["created_at"] >= resets[slot_id]:
                    durations[slot_id].append(ms)
            elif outcome in _FAILURES and len(failures) < RECENT_FAILURES:
                failures.append(_failure(row))

        lasts = await asyncio.gather(*(self._last(s.id) for s in slots))
        per_slot = [
            SlotOverview(
                **counts_of(
                    groups.get(slot.id, []), latency_of(durations.get(slot.id, []), False)
                ).model_dump(),
                slot_id=slot.id,
                name=slot.name,
                provider=slot.provider,
                operation=slot.operation.value,
                is_active=slot.is_active,
                reset_at=resets.get(slot.id),
                last_success=last_success,
                last_error=last_error,
            )
            for slot, (last_success, last_error) in zip(slots, lasts, strict=True)
        ]
        width = bucket_seconds(minutes, buckets)
        return Overview(
            generated_at=now,
            since=since,
            until=now,
            minutes=minutes,
            bucket_seconds=width,
            deadline_seconds=deadline_seconds,
            sampled=len(rows),
            truncated=len(rows) >= self._sample,
            totals=counts_of(platform_wide, latency_of(every_duration, False)),
            slots=per_slot,
            series=series(
                ((r["created_at"], str(r.get("outcome"))) for r in rows), since, now, width
            ),
            recent_failures=failures,
        )


def _failure(row: dict[str, Any]) -> RecentFailure:
    error = row.get("error") or {}
    return RecentFailure(
        job_id=row["_id"],
        slot_id=row.get("slot_id") or "",
        provider=row.get("provider") or "unknown",
        outcome=row["outcome"],
        error_code=error.get("code"),
        provider_status=error.get("provider_status"),
        message=error.get("message"),
        created_at=row["created_at"],
        finalized_at=row.get("finalized_at"),
    )
