"""Waiting requests, woken by `JobStatusChanged` events.

Every api process reads the whole `jobs.status` topic (no consumer group), so whichever
replica holds the request sees its job's final status the moment it is published. A request
registers before its job exists: the fastest job's event still finds it."""

from __future__ import annotations

import asyncio
from collections import Counter

from photochanger_contracts import JobStatus, JobStatusChanged
from photochanger_runtime.observability import metrics


class JobWaiters:
    def __init__(self) -> None:
        self._futures: dict[str, tuple[str, asyncio.Future[JobStatusChanged]]] = {}
        self._per_provider: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._futures)

    def waiting_for(self, provider: str) -> int:
        return self._per_provider[provider]

    def register(self, job_id: str, provider: str) -> asyncio.Future[JobStatusChanged]:
        future: asyncio.Future[JobStatusChanged] = asyncio.get_running_loop().create_future()
        self._futures[job_id] = (provider, future)
        self._per_provider[provider] += 1
        metrics.REQUESTS_WAITING.set(len(self._futures))
        return future

    def release(self, job_id: str) -> None:
        found = self._futures.pop(job_id, None)
        if found is not None:
            self._per_provider[found[0]] -= 1
        metrics.REQUESTS_WAITING.set(len(self._futures))

    async def on_status(self, event: JobStatusChanged) -> None:
        if event.status is not JobStatus.FINALIZED:
            return
        found = self._futures.get(event.job_id)
        if found is not None and not found[1].done():
            found[1].set_result(event)
