"""Kafka event models. Every event carries a schema version; consumers reject what they
cannot read (the message goes to the dead-letter topic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from .jobs import JobOutcome, JobStatus, Operation


def _event_id() -> str:
    return uuid4().hex


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    event_id: str = Field(default_factory=_event_id)
    occurred_at: datetime


class MediaRef(BaseModel):
    """A media store key with the object's type, size and digest; never the bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    mime_type: str
    size_bytes: int = Field(ge=0)
    sha256: str


class TemplateBinding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    media: MediaRef


class JobCreated(Event):
    job_id: str
    slot_id: str
    provider: str
    operation: Operation
    created_at: datetime
    expires_at: datetime


class ProviderJobRequested(Event):
    job_id: str
    slot_id: str
    provider: str
    operation: Operation
    settings: dict[str, Any]
    payload: MediaRef
    templates: tuple[TemplateBinding, ...] = ()
    expires_at: datetime


class JobStatusChanged(Event):
    job_id: str
    slot_id: str
    status: JobStatus
    outcome: JobOutcome | None = None
    error_code: str | None = None
    error_message: str | None = None
    result: MediaRef | None = None


class JobCancelRequested(Event):
    job_id: str
    reason: str


class DeadLetter(Event):
    """A message no handler could read, kept with the reason so it can be replayed."""

    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    error: str
    payload_text: str = Field(description="the raw message as text, truncated")
