"""Waiting requests, woken by `JobStatusChanged` events.

Every api process reads the whole `jobs.status` topic (no consumer group), so whichever
replica holds the request sees its job's final status the moment it is published. A request
registers before its job exists: the fastest job's event still finds it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

from photochanger_contracts import JobStatus, JobStatusChanged
from photochanger_runtime.observability import metrics


class ShuttingDown(Exception):
    """The api process is stopping: the request is answered now, its job goes on."""


class JobWaiters:
    def __init__(self) -> None:
        self._futures: dict[str, tuple[str, asyncio.Future[JobStatusChanged]]] = {}
        self._per_provider: Counter[str] = Counter()
        self._released = asyncio.Event()
        #: the process is stopping: no new request may start waiting
        self.draining = False

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
        self._released.set()

    async def drain(self, grace_seconds: float) -> int:
        """Stop taking requests; let the waiting ones finish for up to `grace_seconds`, then
        answer the rest (`ShuttingDown`). Returns how many were cut short."""
        self.draining = True
        end = time.monotonic() + grace_seconds
        while self._futures and (left := end - time.monotonic()) > 0:
            self._released.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._released.wait()
        cut = 0
        for _, future in list(self._futures.values()):
            if not future.done():
                future.set_exception(ShuttingDown())
                cut += 1
        return cut

    async def on_status(self, event: JobStatusChanged) -> None:
        if event.status is not JobStatus.FINALIZED:
            return
        found = self._futures.get(event.job_id)
        if found is not None and not found[1].done():
            found[1].set_result(event)
