"""Status events for the open event streams of this process.

Every api process reads the whole `jobs.status` topic (ADR-0008), so a stream served by any
replica — also the one a client reconnects to — hears its job's final status the moment it is
published; nothing polls the database for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from photochanger_contracts import ErrorCode, JobStatus, JobStatusChanged

from ..errors import ApiError


class StatusFeed:
    def __init__(self, max_streams: int) -> None:
        self._max = max_streams
        self._count = 0
        self._listeners: dict[str, set[asyncio.Queue[JobStatusChanged]]] = {}

    @contextlib.contextmanager
    def listen(self, job_id: str) -> Iterator[asyncio.Queue[JobStatusChanged]]:
        """A queue that receives the job's status events while the block runs."""
        if self._count >= self._max:
            raise ApiError(
                ErrorCode.AT_CAPACITY,
                "too many event streams open, poll GET /v1/jobs/{id} or retry shortly",
                {"max_streams": self._max},
                headers={"Retry-After": "5"},
            )
        queue: asyncio.Queue[JobStatusChanged] = asyncio.Queue()
        self._listeners.setdefault(job_id, set()).add(queue)
        self._count += 1
        try:
            yield queue
        finally:
            self._count -= 1
            listeners = self._listeners.get(job_id)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._listeners[job_id]

    async def on_status(self, event: JobStatusChanged) -> None:
        if event.status is not JobStatus.FINALIZED:
            return
        for queue in self._listeners.get(event.job_id, ()):
            queue.put_nowait(event)
