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
        #: job id → the futures of the requests waiting for it (several when a re-sent photo
        #: or an idempotent retry joined the job)
        self._futures: dict[str, list[tuple[str, asyncio.Future[JobStatusChanged]]]] = {}
        self._count = 0
        self._per_provider: Counter[str] = Counter()
        self._released = asyncio.Event()
        #: the process is stopping: no new request may start waiting
        self.draining = False

    def __len__(self) -> int:
        return self._count

    def waiting_for(self, provider: str) -> int:
        return self._per_provider[provider]

    def register(self, job_id: str, provider: str) -> asyncio.Future[JobStatusChanged]:
        future: asyncio.Future[JobStatusChanged] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(job_id, []).append((provider, future))
        self._per_provider[provider] += 1
        self._count += 1
        metrics.REQUESTS_WAITING.set(self._count)
        return future

    def release(self, job_id: str, future: asyncio.Future[JobStatusChanged] | None = None) -> None:
        """Stop waiting: the request holding `future`, or every request waiting for the job."""
        waiting = self._futures.get(job_id, [])
        gone = [w for w in waiting if future is None or w[1] is future]
        for provider, _ in gone:
            self._per_provider[provider] -= 1
            self._count -= 1
        left = [w for w in waiting if w not in gone]
        if left:
            self._futures[job_id] = left
        else:
            self._futures.pop(job_id, None)
        metrics.REQUESTS_WAITING.set(self._count)
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
        for waiting in list(self._futures.values()):
            for _, future in waiting:
                if not future.done():
                    future.set_exception(ShuttingDown())
                    cut += 1
        return cut

    async def on_status(self, event: JobStatusChanged) -> None:
        if event.status is not JobStatus.FINALIZED:
            return
        for _, future in self._futures.get(event.job_id, []):
            if not future.done():
                future.set_result(event)
