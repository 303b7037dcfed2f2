"""What the running provider workers say about themselves: how many replicas of a provider
are alive and how many of them hold its API key. The api reports this (admin providers view,
the console's settings) instead of its own environment, which holds no provider key when the
keys are given to the provider pods only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..jobs.store import WorkerPresence

#: a worker whose last heartbeat is older than this is not counted (heartbeats come a few
#: times per lease, a few seconds apart)
ALIVE_WITHIN = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class FleetKeys:
    #: workers of the provider that beat within ALIVE_WITHIN
    replicas: int
    #: of those, the ones that hold the provider's API key
    replicas_with_key: int


def fleet_keys(presences: Sequence[WorkerPresence], now: datetime) -> FleetKeys:
    alive = [p for p in presences if now - p.seen_at <= ALIVE_WITHIN]
    return FleetKeys(
        replicas=len(alive), replicas_with_key=sum(1 for p in alive if p.holds_key is True)
    )
