"""Building blocks for unit tests of the job core: specs, a recording event bus, and the one
writer on in-memory stores (no server)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from photochanger_contracts import Event, JobSpec, MediaRef, Operation, topics
from photochanger_runtime.clock import ManualClock
from photochanger_runtime.jobs import JobTransitions
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from photochanger_runtime.media import payload_key
from photochanger_runtime.media.memory import InMemoryMediaStore

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def spec(
    *,
    provider: str = "gemini",
    seconds: float = 48,
    now: datetime = T0,
    job_id: str | None = None,
    settings: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    join_key: str | None = None,
) -> JobSpec:
    job_id = job_id or str(uuid.uuid4())
    expires = now + timedelta(seconds=seconds)
    return JobSpec(
        job_id=job_id, slot_id="slot-001", slot_version=1, provider=provider,
        operation=Operation.IMAGE_EDIT, settings=settings or {"prompt": "p"},
        payload=MediaRef(key=payload_key(job_id, expires), mime_type="image/jpeg",
                         size_bytes=3, sha256="0" * 64),
        created_at=now, expires_at=expires, artifact_expires_at=expires,
        metadata=metadata or {}, join_key=join_key,
    )  # fmt: skip


@dataclass
class RecordingBus:
    """The event bus as a list: (topic, event, key) in publish order; can be made to fail."""

    sent: list[tuple[str, Event, str]] = field(default_factory=list)
    down: bool = False
    #: publishes tried while down (each one a caller's wait for a Kafka that does not answer)
    refused: list[str] = field(default_factory=list)

    async def publish(self, topic: str, event: Event, *, key: str) -> None:
        if self.down:
            self.refused.append(topic)
            raise ConnectionError("Kafka is down")
        self.sent.append((topic, event, key))

    def on(self, topic: str) -> list[Event]:
        return [event for t, event, _ in self.sent if t == topic]

    def statuses(self, job_id: str) -> list[Any]:
        return [e for e in self.on(topics.JOBS_STATUS) if getattr(e, "job_id", None) == job_id]


@dataclass
class Core:
    store: InMemoryJobStore
    bus: RecordingBus
    media: InMemoryMediaStore
    clock: ManualClock
    transitions: JobTransitions


def core(now: datetime = T0) -> Core:
    store, bus, media, clock = (
        InMemoryJobStore(),
        RecordingBus(),
        InMemoryMediaStore(),
        ManualClock(now),
    )
    return Core(
        store, bus, media, clock, JobTransitions(store=store, bus=bus, media=media, clock=clock)
    )
