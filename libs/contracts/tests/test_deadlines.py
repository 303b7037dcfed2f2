"""Deadline and TTL arithmetic, including property-based checks of its invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from photochanger_contracts.deadlines import (
    DeadlineError,
    artifact_expires_at,
    has_room_for,
    job_expires_at,
    result_expires_at,
    seconds_left,
    validate_sync_response_seconds,
)

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
sync_seconds = st.floats(min_value=45, max_value=60)
limits = st.floats(min_value=0, max_value=7 * 24 * 3600)


@given(created=moments, sync=sync_seconds)
def test_job_expires_exactly_t_sync_after_creation(created: datetime, sync: float) -> None:
    assert job_expires_at(created, sync) - created == timedelta(seconds=sync)


@given(created=moments, sync=sync_seconds, limit=limits)
def test_artifacts_never_outlive_the_job_deadline_or_their_limit(
    created: datetime, sync: float, limit: float
) -> None:
    expires = job_expires_at(created, sync)
    artifact = artifact_expires_at(created, expires, limit)
    assert artifact <= expires
    assert artifact <= created + timedelta(seconds=limit)
    assert artifact in (expires, created + timedelta(seconds=limit))


@given(finalized=moments, hours=st.floats(min_value=0.001, max_value=10_000))
def test_results_expire_retention_after_finalization(finalized: datetime, hours: float) -> None:
    assert result_expires_at(finalized, hours) - finalized == timedelta(hours=hours)


@given(now=moments, deadline=moments)
def test_seconds_left_is_never_negative(now: datetime, deadline: datetime) -> None:
    left = seconds_left(now, deadline)
    assert left >= 0
    assert (left == 0) == (deadline <= now)


@given(now=moments, needed=st.floats(min_value=0, max_value=100))
def test_an_attempt_fits_only_with_room_before_the_deadline(now: datetime, needed: float) -> None:
    deadline = now + timedelta(seconds=30)
    assert has_room_for(now, deadline, needed) == (needed < 30)


def test_result_retention_is_independent_of_the_job_deadline() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    expires = job_expires_at(created, 48)
    finalized = created + timedelta(seconds=10)
    assert result_expires_at(finalized, 72) == finalized + timedelta(hours=72)
    assert result_expires_at(finalized, 72) > expires


@pytest.mark.parametrize("seconds", [44.9, 60.1, 0, -1])
def test_sync_response_outside_45_to_60_is_refused(seconds: float) -> None:
    with pytest.raises(DeadlineError):
        validate_sync_response_seconds(seconds)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(DeadlineError):
        job_expires_at(datetime(2026, 1, 1), 48)
