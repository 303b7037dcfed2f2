"""How a provider call gets its permit: the `Admission` a runner asks before every call.

Services use `FleetAdmission` (`admission.py`): one budget and one breaker per provider for
the whole fleet, decided by the provider's admission owner among the dispatchers
(ADR-0019). `LocalAdmission` keeps a process-local rate, for tests of the runtime alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from photochanger_contracts import ProviderErrorCode

from ..jobs import Job
from .admission import AdmissionDenied, Outcome, Permit


class DeadlineTooClose(Exception):
    """Waiting for a limit would run past the job's deadline."""


class Admission(Protocol):
    async def acquire(self, job: Job, *, call: int, start_by: datetime) -> Permit: ...

    async def release(
        self,
        permit: Permit,
        job: Job,
        outcome: Outcome,
        *,
        error_code: str | None = None,
        usage: dict[str, float] | None = None,
        cost: float = 0.0,
    ) -> None: ...

    async def abandon(self, job_id: str, attempt: int) -> None: ...


class RateLimiter:
    """A token bucket: `per_minute` requests, bursts up to a tenth of a minute's budget."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = max(1.0, per_minute / 10.0)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    async def acquire(self, max_wait: float) -> float:
        """Take one token, waiting at most `max_wait` seconds; returns the time waited."""
        async with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            wait = (1 - self._tokens) / self._rate
            if wait > max_wait:
                raise DeadlineTooClose(f"rate limit needs {wait:.1f}s, {max_wait:.1f}s left")
            await asyncio.sleep(wait)  # pacing, not synchronization: the bucket refills by time
            self._refill()
            self._tokens -= 1
            return wait


class LocalAdmission:
    """A process-local rate as the admission (tests of the runtime without dispatchers)."""

    def __init__(self, rate: RateLimiter, now: Callable[[], datetime] | None = None) -> None:
        self._rate = rate
        self._now = now or (lambda: datetime.now(UTC))
        self.ended: list[tuple[str, Outcome, float]] = []

    async def acquire(self, job: Job, *, call: int, start_by: datetime) -> Permit:
        left = (start_by - self._now()).total_seconds()
        try:
            await self._rate.acquire(max(left, 0.0))
        except DeadlineTooClose as exc:
            raise AdmissionDenied(ProviderErrorCode.QUOTA_EXHAUSTED, str(exc), "budget") from exc
        return Permit(
            provider=job.provider, request_id=f"{job.id}:{job.attempt}:{call}", job_id=job.id,
            slot_id=job.slot_id, probe=False, granted_at=time.monotonic(),
        )  # fmt: skip

    async def release(
        self,
        permit: Permit,
        job: Job,
        outcome: Outcome,
        *,
        error_code: str | None = None,
        usage: dict[str, float] | None = None,
        cost: float = 0.0,
    ) -> None:
        self.ended.append((permit.request_id, outcome, cost))

    async def abandon(self, job_id: str, attempt: int) -> None:
        self.ended.append((f"{job_id}:{attempt}", "abandoned", 0.0))
