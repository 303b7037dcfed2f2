"""What the admin API accepts and answers: the models behind the published OpenAPI contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from photochanger_contracts import JobOutcome, JobStatus, MediaRef, Operation
from photochanger_contracts.deadlines import SYNC_RESPONSE_MAX_SECONDS, SYNC_RESPONSE_MIN_SECONDS
from photochanger_runtime.jobs import LogEntry
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ..errors import HTTP_STATUS
from ..settings import MIN_INGEST_PASSWORD_LENGTH

_MAX_RESULT_TTL_HOURS = 24 * 30


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors -------------------------------------------------------------------------------


class ErrorBody(_View):
    code: str
    message: str
    details: dict[str, Any]


class ErrorEnvelope(_View):
    error: ErrorBody


_DESCRIPTIONS: dict[int, str] = {
    400: "malformed request",
    401: "missing, invalid or expired token (or wrong credentials at login)",
    403: "the token lacks the permission this route needs",
    404: "no such resource",
    409: "conflicts with the current state",
    410: "gone: it has expired or was deleted",
    412: "If-Match names a version that is no longer current",
    413: "upload larger than the limit",
    415: "not a supported image type (decided by its bytes)",
    422: "validation failed; details.problems lists each field",
    429: "too many attempts or at capacity (see Retry-After)",
    502: "the provider failed",
    503: "a backing service is unavailable",
    504: "no result before the deadline",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers, all in the one envelope."""
    assert all(s in HTTP_STATUS.values() for s in statuses)
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}


#: every admin route: no or bad token, missing permission, database or broker down
ADMIN_ERRORS = (401, 403, 503)


# -- login --------------------------------------------------------------------------------


class LoginRequest(_Input):
    username: str = Field(min_length=1, max_length=128)
    password: SecretStr = Field(min_length=1, max_length=1024)


class TokenResponse(_View):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    permissions: list[str]


class SessionResponse(TokenResponse):
    """A console session's bearer token, with who it is for and the idle timeout after which
    the console signs out without input."""

    username: str
    idle_seconds: int


# -- providers ----------------------------------------------------------------------------


class OperationView(_View):
    operation: Operation
    needs_prompt: bool
    required_template_roles: list[str]
    settings_schema: dict[str, Any] = Field(description="JSON schema of the slot settings")


class ProviderView(_View):
    id: str
    display_name: str
    configured: bool = Field(
        description="an API key is set in the settings, or a running replica of the provider "
        "service (or the api) holds one in its environment"
    )
    replicas: int = Field(0, description="running replicas of the provider service")
    replicas_with_key: int = Field(0, description="of those, the ones holding an API key")
    accepts_heif: bool
    operations: list[OperationView]


class ProviderList(_View):
    items: list[ProviderView]


class ProviderHealthView(_View):
    """A provider's fleet-wide breaker, budget use and spend, as its admission owner last wrote
    them (ADR-0019); `reported_at` None: no dispatcher has reported on it yet."""

    id: str
    display_name: str
    breaker: Literal["closed", "half_open", "open"] = "closed"
    failures_in_a_row: int = 0
    retry_at: datetime | None = Field(None, description="when an open breaker lets a trial through")
    requests_per_minute: int
    max_concurrent_jobs: int
    grants_last_minute: int = 0
    in_flight: int = 0
    spend_today: float = 0.0
    spend_by_slot: dict[str, float] = Field(default_factory=dict)
    daily_spend_cap: float | None = None
    denied: dict[str, int] = Field(
        default_factory=dict, description="calls denied since the owner started, by reason"
    )
    reported_at: datetime | None = None


class ProviderHealthList(_View):
    items: list[ProviderHealthView]


# -- slots --------------------------------------------------------------------------------


class RecentResult(_View):
    job_id: str
    download_url: str
    completed_at: datetime | None
    result_expires_at: datetime | None
    mime_type: str | None
    size_bytes: int | None
    expired: bool


class SlotView(_View):
    id: str
    name: str
    provider: str
    operation: Operation
    is_active: bool
    settings: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    recent_results: list[RecentResult]


class SlotList(_View):
    items: list[SlotView]


class SlotUpdate(_Input):
    """The whole editable slot; every field is replaced."""

    name: str = Field(min_length=1, max_length=100)
    provider: str = Field(min_length=1, max_length=64)
    operation: Operation
    is_active: bool
    settings: dict[str, Any]


class StatsReset(_View):
    slot_id: str
    reset_at: datetime


# -- settings -----------------------------------------------------------------------------


class SecretState(_View):
    is_set: bool
    updated_at: datetime | None
    updated_by: str | None


class ProviderKeyState(_View):
    configured: bool = Field(
        description="a key is set in the settings, or a running replica of the provider "
        "service (or the api) holds one in its environment"
    )
    source: Literal["settings", "environment"] | None
    replicas: int = Field(0, description="running replicas of the provider service")
    replicas_with_key: int = Field(0, description="of those, the ones holding an API key")
    updated_at: datetime | None
    updated_by: str | None


class DerivedDeadlines(_View):
    job_deadline_seconds: float = Field(description="expires_at = created_at + this")
    artifact_ttl_seconds: float = Field(description="temporary media live at most this long")
    result_retention_hours: float = Field(description="result_expires_at = finalized_at + this")


class SettingsView(_View):
    sync_response_seconds: float
    result_ttl_hours: float
    derived: DerivedDeadlines
    ingest_password: SecretState
    provider_keys: dict[str, ProviderKeyState]
    version: int
    updated_at: datetime | None
    updated_by: str | None


class SettingsUpdate(_Input):
    """Fields left out keep their value. Secrets are write-only."""

    sync_response_seconds: float | None = Field(
        default=None, ge=SYNC_RESPONSE_MIN_SECONDS, le=SYNC_RESPONSE_MAX_SECONDS
    )
    result_ttl_hours: float | None = Field(default=None, gt=0, le=_MAX_RESULT_TTL_HOURS)
    ingest_password: SecretStr | None = Field(
        default=None,
        min_length=MIN_INGEST_PASSWORD_LENGTH,
        max_length=256,
        description=f"at least {MIN_INGEST_PASSWORD_LENGTH} characters (one secret guards "
        "every booth); e.g. `python -c 'import secrets; print(secrets.token_urlsafe(18))'`",
    )
    provider_keys: dict[str, SecretStr | None] | None = Field(
        default=None, description="provider id → new API key, or null to remove the stored one"
    )


# -- template media -----------------------------------------------------------------------


class TemplateMediaView(_View):
    id: str
    filename: str | None
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    created_by: str
    used_by: list[str] = Field(description="slots whose settings reference this template")


class TemplateMediaList(_View):
    items: list[TemplateMediaView]


# -- jobs ---------------------------------------------------------------------------------


class JobSummaryView(_View):
    id: str
    slot_id: str
    provider: str
    operation: str
    status: JobStatus
    outcome: JobOutcome | None
    failure_reason: JobOutcome | None
    attempt: int
    error_code: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    finalized_at: datetime | None
    result_expires_at: datetime | None
    result_mime_type: str | None
    result_size_bytes: int | None


class JobPageView(_View):
    items: list[JobSummaryView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class JobError(_View):
    code: str
    message: str
    provider_status: str | None = None


class TemplateBindingView(_View):
    role: str
    media: MediaRef


class JobDetail(BaseModel):
    """A job as stored (media references only, never bytes) with its processing log."""

    model_config = ConfigDict(extra="allow")

    id: str
    slot_id: str
    slot_version: int
    provider: str
    operation: Operation
    settings: dict[str, Any]
    status: JobStatus
    outcome: JobOutcome | None
    failure_reason: JobOutcome | None
    attempt: int
    provider_job_reference: str | None
    payload: MediaRef | None
    templates: list[TemplateBindingView]
    result: MediaRef | None
    error: JobError | None
    metadata: dict[str, str]
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    artifact_expires_at: datetime
    finalized_at: datetime | None
    result_expires_at: datetime | None
    processing_log: list[LogEntry]


class CancelAccepted(_View):
    job_id: str
    status: JobStatus
    cancel_requested: bool


class PurgeCounts(_View):
    payloads: int
    media_links: int
    results: int


class PurgeAccepted(_View):
    status: Literal["accepted"]
    will_purge: PurgeCounts
