"""Kafka topic names: the only place they are spelled out."""

from __future__ import annotations

from typing import Final

JOBS_CREATED: Final = "jobs.created"
JOBS_STATUS: Final = "jobs.status"
JOBS_CANCEL: Final = "jobs.cancel"
DEAD_LETTER: Final = "jobs.dlq"
#: permit requests, key = provider id: a provider's partition has one consumer in the
#: dispatchers' admission group, the provider's admission owner
PROVIDER_ADMISSIONS: Final = "provider.admissions"
#: grants, denials and call ends, key = provider id: every dispatcher replica folds it into
#: each provider's budget, breaker and spend; provider workers read their decisions from it
PROVIDER_LEDGER: Final = "provider.ledger"


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
        PROVIDER_ADMISSIONS,
        PROVIDER_LEDGER,
        *(provider_requests(p) for p in provider_ids),
    )
