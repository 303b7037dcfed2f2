"""Per-process provider limits: concurrent jobs and request rate, both deadline-aware.

With N replicas of a provider service the platform-wide limits are N times these;
configure `max_concurrent_jobs` / `requests_per_minute` divided by the replica count."""

from __future__ import annotations

import asyncio
import time


class DeadlineTooClose(Exception):
    """Waiting for a limit would run past the job's deadline."""


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
