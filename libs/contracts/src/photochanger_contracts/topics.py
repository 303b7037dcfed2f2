"""Kafka topic names: the only place they are spelled out."""

from __future__ import annotations

from typing import Final

JOBS_CREATED: Final = "jobs.created"
JOBS_STATUS: Final = "jobs.status"
JOBS_CANCEL: Final = "jobs.cancel"
DEAD_LETTER: Final = "jobs.dlq"


def provider_requests(provider_id: str) -> str:
    """Topic a provider service consumes its `ProviderJobRequested` events from."""
    return f"provider.{provider_id}.requests"


def all_topics(provider_ids: tuple[str, ...]) -> tuple[str, ...]:
    """Every topic the platform uses, for provisioning and readiness checks."""
    return (
        JOBS_CREATED,
        JOBS_STATUS,
        JOBS_CANCEL,
        DEAD_LETTER,
        *(provider_requests(p) for p in provider_ids),
    )
