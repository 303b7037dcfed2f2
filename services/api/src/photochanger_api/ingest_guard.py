"""What an unauthenticated ingest request may cost before anyone knows it is a booth.

Checked before the body is read, in process memory (no database command on the path):

- `UploadSlots`: how many ingest bodies this process reads at once, in total and from one
  client address. A body in flight costs a few chunks of memory and a media store write; the
  slots bound both. Past the total the answer is 503, past the address's share 429, both at
  once with `Retry-After`.
- `FailureThrottle`: wrong passwords per client address in a sliding window; past the limit
  the address gets 429 with `Retry-After` until its oldest counted failure leaves the window,
  before its body is read.

Both are per process: N api replicas allow N times as much, which the limits are sized for
(ADR-0015). Their memory is bounded: addresses with nothing in flight are dropped, and the
throttle keeps the most recently failing `max_addresses`."""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from photochanger_contracts import ErrorCode
from photochanger_runtime.observability import metrics

from .errors import ApiError

#: addresses the failure throttle remembers (each: `limit` floats)
MAX_THROTTLED_ADDRESSES = 10_000


def _refused(code: ErrorCode, reason: str, message: str, retry_after: float) -> ApiError:
    metrics.INGEST_REFUSED.labels(reason=reason).inc()
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        code, message, {"retry_after_seconds": seconds}, headers={"Retry-After": str(seconds)}
    )


class UploadSlots:
    def __init__(self, *, total: int, per_address: int) -> None:
        self._total = total
        self._per_address = per_address
        self._in_flight = 0
        self._by_address: Counter[str] = Counter()

    def __len__(self) -> int:
        return self._in_flight

    @contextmanager
    def take(self, address: str) -> Iterator[None]:
        if self._in_flight >= self._total:
            raise _refused(
                ErrorCode.SERVICE_UNAVAILABLE, "uploads_busy",
                "too many uploads in progress, try again shortly", 2,
            )  # fmt: skip
        if self._by_address[address] >= self._per_address:
            raise _refused(
                ErrorCode.AT_CAPACITY, "address_busy",
                "too many uploads in progress from this address, try again shortly", 2,
            )  # fmt: skip
        self._in_flight += 1
        self._by_address[address] += 1
        metrics.UPLOADS_IN_FLIGHT.set(self._in_flight)
        try:
            yield
        finally:
            self._in_flight -= 1
            metrics.UPLOADS_IN_FLIGHT.set(self._in_flight)
            self._by_address[address] -= 1
            if not self._by_address[address]:
                del self._by_address[address]


class FailureThrottle:
    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        max_addresses: int = MAX_THROTTLED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, address: str) -> None:
        """429 when `address` used up its failures within the window."""
        failures = self._failures.get(address)
        if failures is None or len(failures) < self._limit:
            return
        left = failures[0] + self._window - self._clock()
        if left > 0:
            raise _refused(
                ErrorCode.TOO_MANY_ATTEMPTS, "address_throttled",
                "too many wrong passwords from this address, try again later", left,
            )  # fmt: skip

    def record(self, address: str) -> None:
        failures = self._failures.get(address)
        if failures is None:
            failures = self._failures[address] = deque(maxlen=self._limit)
            if len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        failures.append(self._clock())
