"""What an unauthenticated ingest request may cost before anyone knows it is a booth.

Checked before the body is read, in process memory (no database command on the path):

- `UploadSlots`: how many ingest bodies this process reads at once, in total and from one
  client address. A body in flight costs a few chunks of memory and a media store write; the
  slots bound both. Past the total the answer is 503, past the address's share 429, both at
  once with `Retry-After`.
- `FailureThrottle`: distinct wrong passwords per client address in a sliding window; past
  the limit the address gets 429 with `Retry-After` until its oldest counted failure leaves
  the window, before its body is read. The same wrong password sent again counts once (a
  misconfigured booth repeats one password; guessing needs new ones), so one such booth does
  not lock out the other booths behind its venue's NAT. An address that authenticated within
  the last `trust_seconds` stays served while throttled — its body is read and only the
  password this process already knows to be right passes (no slow check); new guesses are
  429 — until `hard_limit` distinct failures, when it is refused outright like any other.

Both are per process: N api replicas allow N times as much, which the limits are sized for
(ADR-0015). Their memory is bounded: addresses with nothing in flight are dropped, and the
throttle keeps the most recently failing `max_addresses`."""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
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
        hard_limit: int | None = None,
        trust_seconds: float = 24 * 3600,
        max_addresses: int = MAX_THROTTLED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._hard_limit = max(hard_limit or limit * 10, limit)
        self._window = window_seconds
        self._trust = trust_seconds
        self._max_addresses = max_addresses
        self._clock = clock
        #: per address: fingerprint of each distinct wrong password → when last sent
        self._failures: OrderedDict[str, OrderedDict[bytes, float]] = OrderedDict()
        #: per address: when it last authenticated
        self._succeeded: OrderedDict[str, float] = OrderedDict()

    def _recent(self, address: str) -> OrderedDict[bytes, float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        start = self._clock() - self._window
        while failures and next(iter(failures.values())) <= start:
            failures.popitem(last=False)
        return failures

    def _trusted(self, address: str) -> bool:
        at = self._succeeded.get(address)
        return at is not None and at > self._clock() - self._trust

    def _wait(self, failures: OrderedDict[bytes, float], limit: int) -> float:
        oldest_counted = list(failures.values())[-limit]
        return oldest_counted + self._window - self._clock()

    def check(self, address: str) -> None:
        """429 when `address` used up its failures within the window (before the body is
        read), unless it authenticated lately and is not past the hard limit."""
        failures = self._recent(address)
        if failures is None or len(failures) < self._limit:
            return
        trusted = self._trusted(address)
        if trusted and len(failures) < self._hard_limit:
            return
        raise self._throttled(self._wait(failures, self._hard_limit if trusted else self._limit))

    def restricted(self, address: str) -> bool:
        """Whether only an already known right password may pass from `address` now."""
        failures = self._recent(address)
        return failures is not None and len(failures) >= self._limit

    def refuse_guess(self, address: str) -> ApiError:
        """The answer to a new password from a restricted address."""
        failures = self._recent(address) or OrderedDict()
        return self._throttled(self._wait(failures, self._limit) if failures else 1)

    @staticmethod
    def _throttled(left: float) -> ApiError:
        return _refused(
            ErrorCode.TOO_MANY_ATTEMPTS, "address_throttled",
            "too many wrong passwords from this address, try again later", left,
        )  # fmt: skip

    def record(self, address: str, fingerprint: bytes = b"") -> None:
        """A wrong password from `address`; `fingerprint` tells repeats of one apart from
        new ones (a keyed hash of it, never the password)."""
        failures = self._failures.get(address)
        if failures is None:
            failures = self._failures[address] = OrderedDict()
            if len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        failures.pop(fingerprint, None)
        failures[fingerprint] = self._clock()
        while len(failures) > self._hard_limit:
            failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._succeeded[address] = self._clock()
        self._succeeded.move_to_end(address)
        if len(self._succeeded) > self._max_addresses:
            self._succeeded.popitem(last=False)
