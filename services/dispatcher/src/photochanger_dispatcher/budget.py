"""A provider's fleet-wide budget, circuit breaker and spend, as a fold of its ledger.

Every dispatcher replica folds every ledger record (`PermitDecision`, `CallEnded`) into one
`ProviderBook` per provider, so any replica that becomes a provider's admission owner already
knows the grants of the last minute, the calls in flight and the breaker's state. Only the
owner decides (`admit`); it applies its own decisions at once and skips their echo.

    rate      at most `requests_per_minute` grants in any 60 s, paced by a cell-rate
              schedule (bursts up to `burst`), retries and resumed attempts included
    at once   at most `max_concurrent` leases: a grant holds one until its `CallEnded` or the
              job's deadline (a worker killed mid-call gives its place back at the deadline)
    breaker   `failure_threshold` provider failures in a row open it for `cooldown_seconds`;
              then one trial call (half-open): success closes it, failure opens it again
    spend     estimated cost of the calls that ended, by UTC day and slot; a daily cap denies

Pure code: no I/O, time comes in as arguments."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from photochanger_contracts import CallEnded, PermitDecision, PermitRequested

MINUTE = timedelta(seconds=60)
#: decided request ids are remembered this long (a re-sent request is not decided twice)
_REMEMBER = timedelta(seconds=180)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_minute: int
    max_concurrent: int
    #: how long a call usually takes, until calls have been measured
    typical_latency_seconds: float = 10.0
    failure_threshold: int = 5
    cooldown_seconds: float = 30.0
    daily_spend_cap: float | None = None

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=60.0 / self.requests_per_minute)

    @property
    def burst(self) -> int:
        """Grants that may go out back to back after a quiet spell: a thirtieth of a
        minute's budget (2 s worth), at least one."""
        return max(1, self.requests_per_minute // 30)


@dataclass(slots=True)
class Lease:
    job_id: str
    slot_id: str
    granted_at: datetime
    until: datetime
    probe: bool


@dataclass
class ProviderBook:
    provider: str
    limits: Limits
    #: times of the grants of the last minute
    grants: deque[datetime] = field(default_factory=deque)
    #: the cell-rate schedule: when the next grant is due without burst
    due: datetime | None = None
    leases: dict[str, Lease] = field(default_factory=dict)
    decided: dict[str, datetime] = field(default_factory=dict)
    ended: dict[str, datetime] = field(default_factory=dict)
    breaker: BreakerState = BreakerState.CLOSED
    failures_in_a_row: int = 0
    opened_at: datetime | None = None
    probe: str | None = None
    latency_seconds: float | None = None
    #: spend by UTC day, and by (day, slot)
    spend: dict[date, float] = field(default_factory=dict)
    spend_by_slot: dict[tuple[date, str], float] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    denied: dict[str, int] = field(default_factory=dict)
    #: spend of calls that ended up to this moment is in `spend` already (a snapshot's)
    spend_counted_until: datetime | None = None

    def restore_spend(
        self, day: date, total: float, by_slot: dict[str, float], until: datetime
    ) -> None:
        self.spend[day] = total
        for slot, amount in by_slot.items():
            self.spend_by_slot[(day, slot)] = float(amount)
        self.spend_counted_until = until

    # -- the fold ------------------------------------------------------------------------------

    def apply(self, record: PermitDecision | CallEnded) -> bool:
        """Fold one ledger record; False when it was folded already (an owner's own
        decision coming back, a duplicate)."""
        if isinstance(record, PermitDecision):
            return self._decided(record)
        return self._ended(record)

    def _decided(self, record: PermitDecision) -> bool:
        if record.request_id in self.decided:
            return False
        at = record.occurred_at
        self.decided[record.request_id] = at
        if not record.granted:
            reason = record.reason or "budget"
            self.denied[reason] = self.denied.get(reason, 0) + 1
            return True
        self.grants.append(at)
        interval = self.limits.interval
        self.due = max(self.due or at, at - interval * (self.limits.burst - 1)) + interval
        if record.request_id not in self.ended:
            self.leases[record.request_id] = Lease(
                job_id=record.job_id, slot_id=record.slot_id, granted_at=at,
                until=record.lease_until, probe=record.probe,
            )  # fmt: skip
        if record.probe:
            self.breaker = BreakerState.HALF_OPEN
            self.probe = record.request_id
        return True

    def _ended(self, record: CallEnded) -> bool:
        if record.request_id in self.ended:
            return False
        at = record.occurred_at
        self.ended[record.request_id] = at
        lease = self.leases.pop(record.request_id, None)
        self.outcomes[record.outcome] = self.outcomes.get(record.outcome, 0) + 1
        counted = self.spend_counted_until is not None and at <= self.spend_counted_until
        if record.cost and not counted:
            day = at.astimezone(UTC).date()
            self.spend[day] = self.spend.get(day, 0.0) + record.cost
            key = (day, record.slot_id)
            self.spend_by_slot[key] = self.spend_by_slot.get(key, 0.0) + record.cost
        if record.outcome in ("success", "failure") and record.duration_seconds > 0:
            last = self.latency_seconds
            measured = record.duration_seconds
            self.latency_seconds = measured if last is None else 0.8 * last + 0.2 * measured
        self._breaker_sees(record, at, was_probe=lease is not None and lease.probe)
        return True

    def _breaker_sees(self, record: CallEnded, at: datetime, *, was_probe: bool) -> None:
        if record.outcome == "success":
            self.breaker, self.failures_in_a_row, self.opened_at = BreakerState.CLOSED, 0, None
            self.probe = None
        elif record.outcome == "failure":
            self.failures_in_a_row += 1
            probe_failed = was_probe or record.request_id == self.probe
            if probe_failed or self.failures_in_a_row >= self.limits.failure_threshold:
                if self.breaker is not BreakerState.OPEN or probe_failed:
                    self.opened_at = at
                self.breaker, self.probe = BreakerState.OPEN, None
        elif record.request_id == self.probe:
            # a trial that said nothing about the provider: another one may go
            self.breaker, self.probe = BreakerState.OPEN, None

    def prune(self, now: datetime) -> None:
        while self.grants and self.grants[0] <= now - MINUTE:
            self.grants.popleft()
        for request_id in [r for r, lease in self.leases.items() if lease.until <= now]:
            expired = self.leases.pop(request_id)
            if expired.probe and self.probe == request_id:
                self.breaker, self.probe = BreakerState.OPEN, None
        for book in (self.decided, self.ended):
            for request_id in [r for r, at in book.items() if at <= now - _REMEMBER]:
                del book[request_id]
        old_days = [d for d in self.spend if d < now.astimezone(UTC).date() - timedelta(days=1)]
        for day in old_days:
            del self.spend[day]
        for key in [k for k in self.spend_by_slot if k[0] in old_days]:
            del self.spend_by_slot[key]

    # -- what the book says --------------------------------------------------------------------

    def in_flight(self) -> int:
        return len(self.leases)

    def grants_last_minute(self, now: datetime) -> int:
        return sum(1 for at in self.grants if at > now - MINUTE)

    def spend_today(self, now: datetime) -> float:
        return self.spend.get(now.astimezone(UTC).date(), 0.0)

    def breaker_retry_at(self) -> datetime | None:
        """When an open breaker lets a trial call through."""
        if self.breaker is not BreakerState.OPEN or self.opened_at is None:
            return None
        return self.opened_at + timedelta(seconds=self.limits.cooldown_seconds)

    def rate_allows_at(self, now: datetime) -> datetime:
        """The earliest moment the rate lets one more grant go."""
        at = now
        if self.due is not None:
            at = max(at, self.due - self.limits.interval * self.limits.burst)
        recent = [g for g in self.grants if g > now - MINUTE]
        if len(recent) >= self.limits.requests_per_minute:
            at = max(at, recent[len(recent) - self.limits.requests_per_minute] + MINUTE)
        return at

    def can_grant(self, now: datetime) -> bool:
        return self.in_flight() < self.limits.max_concurrent and self.rate_allows_at(now) <= now

    def latency(self) -> float:
        return self.latency_seconds or self.limits.typical_latency_seconds

    def projected_start(self, now: datetime, position: int) -> datetime:
        """When the request `position` places behind the head of the queue could start, at
        the earliest: the rate's schedule and the calls in flight ending at their usual
        pace."""
        rate = self.rate_allows_at(now) + self.limits.interval * position
        free = self.limits.max_concurrent - self.in_flight()
        if position < free:
            return rate
        ends = sorted(
            max(now, lease.granted_at + timedelta(seconds=self.latency()))
            for lease in self.leases.values()
        )
        waves, index = divmod(position - max(free, 0), max(1, self.limits.max_concurrent))
        first = ends[index] if index < len(ends) else now
        return max(rate, first + timedelta(seconds=self.latency() * waves))


def admit(
    book: ProviderBook, queue: list[PermitRequested], now: datetime, *, owner: str
) -> tuple[list[PermitDecision], list[PermitRequested], datetime | None]:
    """The owner's decisions for the waiting requests (oldest first) — already folded into
    the book, to be published as they are — the requests still waiting, and when to look
    again (None: only a new record can change anything)."""
    book.prune(now)
    decisions: list[PermitDecision] = []

    def decide(request: PermitRequested, granted: bool, reason: str | None = None,
               message: str | None = None, probe: bool = False) -> None:  # fmt: skip
        record = PermitDecision(
            occurred_at=now, provider=request.provider, request_id=request.request_id,
            job_id=request.job_id, slot_id=request.slot_id, granted=granted,
            reason=reason, message=message, probe=probe,
            lease_until=request.expires_at, owner=owner,
        )  # fmt: skip
        book.apply(record)
        decisions.append(record)

    waiting: list[PermitRequested] = []
    limits = book.limits
    for request in queue:
        if request.request_id in book.decided:
            continue
        if request.start_by <= now:
            decide(request, False, "budget", _no_budget(book))
            continue
        cap = limits.daily_spend_cap
        if cap is not None and book.spend_today(now) >= cap:
            decide(
                request,
                False,
                "spend_cap",
                f"{book.provider}: today's estimated spend reached its cap of {cap:g}",
            )
            continue
        if book.breaker is not BreakerState.CLOSED:
            retry_at = book.breaker_retry_at()
            trial_due = (
                book.breaker is BreakerState.OPEN and retry_at is not None and (retry_at <= now)
            )
            if trial_due and book.in_flight() < limits.max_concurrent:
                decide(request, True, probe=True)
                continue
            until = (
                f" until {retry_at:%H:%M:%S} UTC"
                if retry_at is not None and retry_at > now
                else " (a trial call is running)"
            )
            decide(
                request,
                False,
                "breaker_open",
                f"{book.provider} failed {book.failures_in_a_row} times in a row: its "
                f"circuit breaker is open{until}",
            )
            continue
        waiting.append(request)
    still: list[PermitRequested] = []
    for request in waiting:
        if not still and book.can_grant(now):
            decide(request, True)
            continue
        if book.projected_start(now, len(still)) > request.start_by:
            decide(request, False, "budget", _no_budget(book))
            continue
        still.append(request)
    wake: datetime | None = None
    if still:
        wake = min(book.rate_allows_at(now), min(r.start_by for r in still))
        if book.leases:
            wake = min(wake, min(lease.until for lease in book.leases.values()))
        wake = max(wake, now + timedelta(milliseconds=10))
    retry_at = book.breaker_retry_at()
    if retry_at is not None and retry_at > now:
        wake = retry_at if wake is None else min(wake, retry_at)
    return decisions, still, wake


def _no_budget(book: ProviderBook) -> str:
    limits = book.limits
    return (
        f"{book.provider}: no room in the fleet's budget ({limits.requests_per_minute} "
        f"requests a minute, {limits.max_concurrent} at once) before the job's deadline"
    )
