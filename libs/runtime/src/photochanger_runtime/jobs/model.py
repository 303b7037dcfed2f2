"""A job as the platform records it, and the entries of its processing log.

One model serves the live record (pending or processing: what it runs, its deadlines) and the
final record (the same plus outcome, result, error and the processing log). Image bytes never
live here, only media references."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from photochanger_contracts import JobOutcome, JobSpec, JobStatus, MediaRef, Operation
from photochanger_contracts import TemplateBinding as TemplateBinding
from pydantic import BaseModel, ConfigDict, Field

_MAX_MESSAGE = 500


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    provider_status: str | None = None


class LogEntry(BaseModel):
    """One step of a job: a transition or a provider call. Ids, timings and codes only —
    never image bytes, passwords, keys or raw provider responses."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    slot_id: str
    provider: str | None = None
    event: str
    at: datetime
    attempt: int | None = None
    duration_ms: float | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error_message: str | None = Field(default=None, max_length=_MAX_MESSAGE)
    trace_id: str | None = None
    details: dict[str, Any] | None = None

    @classmethod
    def of(cls, **fields: Any) -> LogEntry:
        """An entry with long messages cut and durations rounded, for any caller."""
        message = fields.get("error_message")
        if isinstance(message, str) and len(message) > _MAX_MESSAGE:
            fields["error_message"] = message[:_MAX_MESSAGE]
        duration = fields.get("duration_ms")
        if isinstance(duration, float):
            fields["duration_ms"] = round(duration, 1)
        return cls(**fields)


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    slot_id: str
    slot_version: int
    provider: str
    operation: Operation
    settings: dict[str, Any]
    payload: MediaRef
    templates: tuple[TemplateBinding, ...] = ()
    created_at: datetime
    expires_at: datetime
    artifact_expires_at: datetime
    fallback_from: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    client_hash: str | None = None
    trace_parent: str | None = None
    result_token_sha256: str | None = None
    client_key_id: str | None = None
    webhook_url: str | None = None
    join_key: str | None = None

    status: JobStatus = JobStatus.PENDING
    #: the attempt that currently owns the job (0 before any claim)
    attempt: int = 0
    provider_job_reference: str | None = None
    cancel_requested: bool = False
    outcome: JobOutcome | None = None
    error: JobError | None = None
    result: MediaRef | None = None
    finalized_at: datetime | None = None
    result_expires_at: datetime | None = None
    log: tuple[LogEntry, ...] = ()

    @property
    def is_final(self) -> bool:
        return self.status is JobStatus.FINALIZED

    @property
    def failure_reason(self) -> JobOutcome | None:
        return self.outcome if self.outcome and self.outcome.is_failure else None

    @property
    def spec(self) -> JobSpec:
        return JobSpec(
            job_id=self.id, slot_id=self.slot_id, slot_version=self.slot_version,
            provider=self.provider, operation=self.operation, settings=self.settings,
            payload=self.payload, templates=self.templates, created_at=self.created_at,
            expires_at=self.expires_at, artifact_expires_at=self.artifact_expires_at,
            fallback_from=self.fallback_from, metadata=self.metadata,
            client_hash=self.client_hash, trace_parent=self.trace_parent,
            result_token_sha256=self.result_token_sha256, client_key_id=self.client_key_id,
            webhook_url=self.webhook_url, join_key=self.join_key,
        )  # fmt: skip

    @classmethod
    def from_spec(cls, spec: JobSpec, **record: Any) -> Job:
        fields = spec.model_dump()
        fields["id"] = fields.pop("job_id")
        return cls.model_validate({**fields, **record})

    def document(self) -> dict[str, Any]:
        """The stored form (`_id` and plain JSON-compatible values, datetimes kept)."""
        return self.model_dump(by_alias=True, mode="python", exclude_none=False)
