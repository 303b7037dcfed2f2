"""The job state machine: states, outcomes and which transitions exist."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    FINALIZED = "finalized"


class JobOutcome(StrEnum):
    """How a finalized job ended; every outcome but `succeeded` is a failure reason."""

    SUCCEEDED = "succeeded"
    TIMEOUT = "timeout"
    PROVIDER_ERROR = "provider_error"
    CANCELLED = "cancelled"

    @property
    def is_failure(self) -> bool:
        return self is not JobOutcome.SUCCEEDED


# Which outcomes each live state may be finalized with (DOMAIN.md "Allowed transitions").
# A pending job cannot succeed: success needs a provider attempt, which needs a claim.
FINALIZABLE_FROM: Final[dict[JobOutcome, tuple[JobStatus, ...]]] = {
    JobOutcome.SUCCEEDED: (JobStatus.PROCESSING,),
    JobOutcome.TIMEOUT: (JobStatus.PENDING, JobStatus.PROCESSING),
    JobOutcome.PROVIDER_ERROR: (JobStatus.PENDING, JobStatus.PROCESSING),
    JobOutcome.CANCELLED: (JobStatus.PENDING, JobStatus.PROCESSING),
}


def can_finalize(current: JobStatus, outcome: JobOutcome) -> bool:
    return current in FINALIZABLE_FROM[outcome]


def can_claim(current: JobStatus) -> bool:
    return current is JobStatus.PENDING


class Operation(StrEnum):
    IMAGE_EDIT = "image_edit"
    STYLE_TRANSFER = "style_transfer"
    IDENTITY_TRANSFER = "identity_transfer"


SLOT_IDS: Final[tuple[str, ...]] = tuple(f"slot-{n:03d}" for n in range(1, 16))


def is_slot_id(value: str) -> bool:
    return value in SLOT_IDS
