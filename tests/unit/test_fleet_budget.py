"""The fleet's provider budget and breaker as pure code (`photochanger_dispatcher.budget`):
what the admission owner grants, denies and when, and that any replica folding the same
ledger knows the same budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from photochanger_contracts import CallEnded, PermitDecision, PermitRequested
from photochanger_dispatcher.budget import BreakerState, Limits, ProviderBook, admit

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def request(n: int, *, at: datetime = T0, deadline_s: float = 48.0) -> PermitRequested:
    return PermitRequested(
        occurred_at=at, provider="gemini", request_id=f"job-{n}:1:1", job_id=f"job-{n}",
        slot_id="slot-001", attempt=1, worker_id="w",
        start_by=at + timedelta(seconds=deadline_s - 3),
        expires_at=at + timedelta(seconds=deadline_s),
    )  # fmt: skip


def ended(decision: PermitDecision, outcome: str, at: datetime, cost: float = 0.0) -> CallEnded:
    return CallEnded(
        occurred_at=at, provider="gemini", request_id=decision.request_id,
        job_id=decision.job_id, slot_id=decision.slot_id, outcome=outcome,  # type: ignore[arg-type]
        duration_seconds=3.0, cost=cost,
    )  # fmt: skip


def book(rpm: int = 30, at_once: int = 4, **extra: object) -> ProviderBook:
    return ProviderBook(
        "gemini",
        Limits(requests_per_minute=rpm, max_concurrent=at_once, typical_latency_seconds=3,
               **extra),  # type: ignore[arg-type]
    )  # fmt: skip


class Owner:
    """An owner driving `admit` over simulated time, with calls ending after `latency`."""

    def __init__(self, b: ProviderBook, latency: float = 3.0) -> None:
        self.book = b
        self.latency = timedelta(seconds=latency)
        self.queue: list[PermitRequested] = []
        self.running: list[tuple[datetime, PermitDecision]] = []
        self.decisions: list[PermitDecision] = []
        self.ledger: list[PermitDecision | CallEnded] = []

    def step(self, now: datetime) -> None:
        for done_at, grant in [r for r in self.running if r[0] <= now]:
            self.running.remove((done_at, grant))
            end = ended(grant, "success", done_at)
            self.book.apply(end)
            self.ledger.append(end)
        decided, self.queue, _ = admit(self.book, self.queue, now, owner="o")
        self.decisions += decided
        self.ledger += decided
        # a call ends by its job's deadline at the latest (the worker's call timeout), when
        # its lease ends too
        self.running += [(min(now + self.latency, d.lease_until), d) for d in decided if d.granted]


def grant_times(decisions: list[PermitDecision]) -> list[datetime]:
    return sorted(d.occurred_at for d in decisions if d.granted)


def most_in_any_minute(times: list[datetime]) -> int:
    return max(
        (sum(1 for t in times if start <= t < start + timedelta(seconds=60)) for start in times),
        default=0,
    )


def test_two_jobs_a_second_get_at_most_the_plans_minute_and_calls_at_once() -> None:
    owner = Owner(book(rpm=30, at_once=4))
    now = T0
    most_at_once = 0
    for tick in range(0, 1500):  # 150 s in 0.1 s steps, 2 requests a second for 75 s
        now = T0 + timedelta(seconds=tick / 10)
        if tick < 750 and tick % 5 == 0:
            owner.queue.append(request(tick, at=now))
        owner.step(now)
        most_at_once = max(most_at_once, len(owner.running))
    granted = grant_times(owner.decisions)
    assert most_in_any_minute(granted) <= 30
    assert most_at_once <= 4
    # the budget is used: a grant about every two seconds while work waits
    assert len(granted) >= 40
    # every request was answered, none left waiting
    assert len(owner.decisions) == 150 and owner.queue == []


def test_a_request_that_cannot_get_budget_before_its_deadline_is_denied_at_once() -> None:
    owner = Owner(book(rpm=30, at_once=4))
    owner.queue = [request(n) for n in range(60)]
    owner.step(T0)
    denied = [d for d in owner.decisions if not d.granted]
    # at 30 a minute about 22 fit in the 45 s before the requests' start-by; the rest are
    # told now, not at their deadline
    assert 30 <= len(denied) <= 40
    assert {d.reason for d in denied} == {"budget"}
    assert all(d.occurred_at == T0 for d in denied)
    assert "30 requests a minute, 4 at once" in (denied[0].message or "")


def test_calls_at_once_hold_back_grants_until_a_call_ends() -> None:
    b = book(rpm=600, at_once=2)
    decided, waiting, _ = admit(b, [request(n) for n in range(3)], T0, owner="o")
    assert [d.granted for d in decided] == [True, True] and len(waiting) == 1
    later = T0 + timedelta(seconds=1)
    b.apply(ended(decided[0], "success", later))
    decided, waiting, _ = admit(b, waiting, later, owner="o")
    assert [d.granted for d in decided] == [True] and waiting == []


def test_a_killed_workers_call_gives_its_place_back_at_the_jobs_deadline() -> None:
    b = book(rpm=600, at_once=1)
    [grant], _, _ = admit(b, [request(1, deadline_s=10)], T0, owner="o")
    assert grant.granted and b.in_flight() == 1
    b.prune(T0 + timedelta(seconds=9))
    assert b.in_flight() == 1
    b.prune(T0 + timedelta(seconds=10))
    assert b.in_flight() == 0


def test_consecutive_failures_open_the_breaker_then_one_trial_closes_it() -> None:
    b = book(rpm=600, at_once=10, failure_threshold=3, cooldown_seconds=30)
    grants, _, _ = admit(b, [request(n) for n in range(3)], T0, owner="o")
    for n, g in enumerate(grants):
        b.apply(ended(g, "failure", T0 + timedelta(seconds=n + 1)))
    assert b.breaker is BreakerState.OPEN
    opened = T0 + timedelta(seconds=3)
    denied, _, wake = admit(b, [request(10, at=opened)], opened, owner="o")
    assert [d.reason for d in denied] == ["breaker_open"]
    assert wake == opened + timedelta(seconds=30)
    trial_time = opened + timedelta(seconds=30)
    decided, _, _ = admit(b, [request(11, at=trial_time), request(12, at=trial_time)],
                          trial_time, owner="o")  # fmt: skip
    assert [(d.granted, d.probe, d.reason) for d in decided] == [
        (True, True, None), (False, False, "breaker_open"),
    ]  # fmt: skip
    assert b.breaker is BreakerState.HALF_OPEN
    b.apply(ended(decided[0], "success", trial_time + timedelta(seconds=2)))
    assert b.breaker is BreakerState.CLOSED and b.failures_in_a_row == 0


def test_a_failed_trial_opens_the_breaker_again() -> None:
    b = book(rpm=600, at_once=10, failure_threshold=1, cooldown_seconds=10)
    [g], _, _ = admit(b, [request(1)], T0, owner="o")
    b.apply(ended(g, "failure", T0))
    later = T0 + timedelta(seconds=10)
    [trial], _, _ = admit(b, [request(2, at=later)], later, owner="o")
    assert trial.probe
    b.apply(ended(trial, "failure", later + timedelta(seconds=1)))
    assert b.breaker is BreakerState.OPEN
    assert b.breaker_retry_at() == later + timedelta(seconds=11)


def test_rejected_input_does_not_count_against_the_provider() -> None:
    b = book(rpm=600, at_once=10, failure_threshold=2)
    grants, _, _ = admit(b, [request(n) for n in range(3)], T0, owner="o")
    for g in grants:
        b.apply(ended(g, "rejected", T0))
    assert b.breaker is BreakerState.CLOSED


def test_the_daily_spend_cap_denies_once_reached() -> None:
    b = book(rpm=600, at_once=10, daily_spend_cap=0.1)
    grants, _, _ = admit(b, [request(n) for n in range(3)], T0, owner="o")
    for g in grants:
        b.apply(ended(g, "success", T0, cost=0.039))
    assert b.spend_today(T0) == pytest.approx(0.117)
    [denied], _, _ = admit(b, [request(9)], T0, owner="o")
    assert denied.reason == "spend_cap" and not denied.granted
    tomorrow = T0 + timedelta(days=1)
    [granted], _, _ = admit(b, [request(10, at=tomorrow)], tomorrow, owner="o")
    assert granted.granted


def test_an_owners_own_decisions_are_not_counted_twice_when_they_come_back() -> None:
    b = book(rpm=600, at_once=10)
    [g], _, _ = admit(b, [request(1)], T0, owner="o")
    assert b.apply(g) is False
    assert b.in_flight() == 1 and b.grants_last_minute(T0) == 1


@settings(max_examples=60, deadline=None)
@given(
    arrivals=st.lists(st.floats(min_value=0, max_value=90), min_size=1, max_size=120),
    cut=st.floats(min_value=0, max_value=120),
    latency=st.floats(min_value=0.5, max_value=20),
)
def test_a_new_owner_rebuilt_from_the_ledger_keeps_the_same_budget(
    arrivals: list[float], cut: float, latency: float
) -> None:
    """Ownership moves at `cut`: the next owner folds the ledger so far and goes on. Across
    both owners no minute has more grants than the plan and never more calls at once."""
    first = Owner(book(rpm=20, at_once=3), latency=latency)
    pending = sorted(arrivals)
    owner = first
    most_at_once = 0
    moved = False
    for tick in range(0, 1500):
        now = T0 + timedelta(seconds=tick / 10)
        while pending and pending[0] <= tick / 10:
            owner.queue.append(request(len(first.ledger) * 1000 + len(pending), at=now))
            pending.pop(0)
        if not moved and tick / 10 >= cut:
            moved = True
            rebuilt = Owner(book(rpm=20, at_once=3), latency=latency)
            for record in owner.ledger:
                rebuilt.book.apply(record)
            rebuilt.ledger = list(owner.ledger)
            rebuilt.decisions = list(owner.decisions)
            rebuilt.running = list(owner.running)
            rebuilt.queue = owner.queue  # the new owner reads the uncommitted requests
            owner = rebuilt
        owner.step(now)
        most_at_once = max(most_at_once, len(owner.running))
    assert most_in_any_minute(grant_times(owner.decisions)) <= 20
    assert most_at_once <= 3


def test_spend_restored_from_a_snapshot_is_not_counted_twice_when_the_ledger_is_read_back() -> None:
    b = book(rpm=600, at_once=10, daily_spend_cap=2.0)
    b.restore_spend(T0.date(), 1.0, {"slot-001": 1.0}, T0)
    grants, _, _ = admit(b, [request(1), request(2)], T0 - timedelta(seconds=30), owner="o")
    b.apply(ended(grants[0], "success", T0 - timedelta(seconds=10), cost=0.5))  # in the snapshot
    b.apply(ended(grants[1], "success", T0 + timedelta(seconds=1), cost=0.5))  # after it
    assert b.spend_today(T0) == pytest.approx(1.5)
    assert b.spend_by_slot[(T0.date(), "slot-001")] == pytest.approx(1.5)
