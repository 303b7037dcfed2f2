"""Job statistics over time windows, computed in the database where it can count.

FerretDB runs `$match` + `$group` with `$sum`, but only the first accumulator of a `$group`
and no `$avg/$min/$max`: counts come from one aggregation with a single `$sum` grouped by
(provider, status, outcome). Latency percentiles need the individual durations, so they
come from a bounded query (the newest `latency_sample` succeeded jobs of the window, two
timestamps each), never from loading every job."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from photochanger_contracts import JobOutcome, JobStatus
from photochanger_runtime.jobs.mongo_store import FINAL, LIVE
from photochanger_runtime.mongo import Document
from pydantic import BaseModel, ConfigDict
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ..database_deadlines import patiently


class StatsWindow(StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"


WINDOWS: Final[dict[StatsWindow, timedelta]] = {
    StatsWindow.HOUR: timedelta(hours=1),
    StatsWindow.DAY: timedelta(hours=24),
    StatsWindow.WEEK: timedelta(days=7),
}


class Latency(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: succeeded jobs the percentiles were computed from
    samples: int
    #: True when the window had more succeeded jobs than the sample bound
    truncated: bool
    p50_ms: float | None
    p95_ms: float | None


class Counts(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: int
    in_flight: int
    finalized: int
    by_outcome: dict[str, int]
    #: succeeded / finalized, None before anything finalized
    success_rate: float | None
    latency: Latency


class WindowStats(Counts):
    window: StatsWindow
    since: datetime
    until: datetime
    by_provider: dict[str, Counts]


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_of(durations_ms: list[float], truncated: bool) -> Latency:
    ordered = sorted(durations_ms)
    return Latency(
        samples=len(ordered),
        truncated=truncated,
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
    )


def counts_of(groups: Sequence[tuple[str | None, str | None, int]], latency: Latency) -> Counts:
    """Jobs by outcome from (status, outcome, count) groups; what is not final is in flight."""
    by_outcome = {o.value: 0 for o in JobOutcome}
    in_flight = 0
    for status, outcome, n in groups:
        if status == JobStatus.FINALIZED.value and outcome in by_outcome:
            by_outcome[outcome] += n
        else:
            in_flight += n
    finalized = sum(by_outcome.values())
    return Counts(
        total=finalized + in_flight,
        in_flight=in_flight,
        finalized=finalized,
        by_outcome=by_outcome,
        success_rate=round(by_outcome["succeeded"] / finalized, 4) if finalized else None,
        latency=latency,
    )


class JobStats:
    def __init__(self, db: AsyncDatabase[Document], *, latency_sample: int = 5000) -> None:
        self._jobs = db[FINAL]
        self._live = db[LIVE]
        self._resets = db["slot_stats_resets"]
        self._latency_sample = latency_sample

    async def reset(self, slot_id: str, *, now: datetime, by: str) -> None:
        """From now on the slot's statistics count only jobs created after `now`."""
        await self._resets.update_one(
            {"_id": slot_id}, {"$set": {"reset_at": now, "reset_by": by}}, upsert=True
        )

    async def reset_at(self, slot_id: str) -> datetime | None:
        doc = await self._resets.find_one({"_id": slot_id})
        return doc["reset_at"] if doc else None

    @patiently
    async def window(
        self, name: StatsWindow, *, now: datetime, slot_id: str | None = None
    ) -> WindowStats:
        since = now - WINDOWS[name]
        if slot_id is not None:
            reset = await self.reset_at(slot_id)
            if reset is not None and reset > since:
                since = reset
        match: Document = {"created_at": {"$gte": since, "$lte": now}}
        if slot_id is not None:
            match["slot_id"] = slot_id

        groups: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
        pipeline: list[Document] = [
            {"$match": match},
            {
                "$group": {
                    "_id": {"provider": "$provider", "status": "$status", "outcome": "$outcome"},
                    "n": {"$sum": 1},
                }
            },
        ]
        for collection in (self._jobs, self._live):  # final records, then live ones
            async for row in await collection.aggregate(pipeline):
                key = row["_id"]
                groups[key.get("provider") or "unknown"].append(
                    (key.get("status"), key.get("outcome"), int(row["n"]))
                )

        durations: dict[str, list[float]] = defaultdict(list)
        sampled = self._jobs.find(
            {**match, "outcome": JobOutcome.SUCCEEDED.value},
            {"provider": 1, "created_at": 1, "finalized_at": 1, "_id": 0},
        )
        rows = [r async for r in sampled.sort("created_at", DESCENDING).limit(self._latency_sample)]
        for row in rows:
            if row.get("finalized_at") is not None:
                ms = (row["finalized_at"] - row["created_at"]).total_seconds() * 1000
                durations[row.get("provider") or "unknown"].append(ms)
        truncated = len(rows) >= self._latency_sample

        by_provider = {
            provider: counts_of(rows_, latency_of(durations.get(provider, []), truncated))
            for provider, rows_ in sorted(groups.items())
        }
        everything = [g for rows_ in groups.values() for g in rows_]
        overall = counts_of(
            everything, latency_of([d for v in durations.values() for d in v], truncated)
        )
        return WindowStats(
            **overall.model_dump(),
            window=name,
            since=since,
            until=now,
            by_provider=by_provider,
        )
