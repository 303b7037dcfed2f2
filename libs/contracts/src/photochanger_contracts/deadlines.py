"""Deadline and TTL arithmetic: computed once, at job creation or finalization.

Every service imports these functions instead of doing date math of its own, so the
api, the provider runtime and the reaper always agree on when a thing expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

SYNC_RESPONSE_MIN_SECONDS: Final = 45
SYNC_RESPONSE_MAX_SECONDS: Final = 60
SYNC_RESPONSE_DEFAULT_SECONDS: Final = 48
RESULT_RETENTION_DEFAULT_HOURS: Final = 72


class DeadlineError(ValueError):
    """A deadline parameter outside the range the domain allows."""


def validate_sync_response_seconds(seconds: float) -> float:
    if not SYNC_RESPONSE_MIN_SECONDS <= seconds <= SYNC_RESPONSE_MAX_SECONDS:
        raise DeadlineError(
            f"T_sync_response must be within {SYNC_RESPONSE_MIN_SECONDS}-"
            f"{SYNC_RESPONSE_MAX_SECONDS} s, got {seconds}"
        )
    return seconds


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise DeadlineError(f"{name} must be timezone-aware")


def job_expires_at(created_at: datetime, sync_response_seconds: float) -> datetime:
    """`expires_at = created_at + T_sync_response`; never extended afterwards."""
    _require_aware(created_at, "created_at")
    return created_at + timedelta(seconds=sync_response_seconds)


def artifact_expires_at(
    created_at: datetime, job_expires: datetime, artifact_limit_seconds: float
) -> datetime:
    """Temporary artifacts live until the job deadline or their own limit, whichever is first."""
    _require_aware(created_at, "created_at")
    _require_aware(job_expires, "job_expires")
    if artifact_limit_seconds < 0:
        raise DeadlineError("artifact limit must not be negative")
    return min(job_expires, created_at + timedelta(seconds=artifact_limit_seconds))


def result_expires_at(finalized_at: datetime, retention_hours: float) -> datetime:
    """Results are kept for `T_result_retention` after finalization, whatever `expires_at` was."""
    _require_aware(finalized_at, "finalized_at")
    if retention_hours <= 0:
        raise DeadlineError("result retention must be positive")
    return finalized_at + timedelta(hours=retention_hours)


def seconds_left(now: datetime, deadline: datetime) -> float:
    """Time until `deadline`, never negative."""
    return max(0.0, (deadline - now).total_seconds())


def has_room_for(now: datetime, deadline: datetime, needed_seconds: float) -> bool:
    """Whether an attempt needing `needed_seconds` can still finish before `deadline`."""
    return seconds_left(now, deadline) > needed_seconds
