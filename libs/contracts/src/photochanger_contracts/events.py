"""Kafka event models. Every event carries a schema version; consumers reject what they
cannot read (the message goes to the dead-letter topic).

Events carry the state their consumers act on: `JobCreated` and `ProviderJobRequested` hold
the job's whole specification (slot snapshot, media keys, deadlines), and `JobStatusChanged`
holds the outcome with the result's media key. No consumer reads the database to learn what
an event already says; the database stays the record of truth for anyone who must check."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from .jobs import JobOutcome, JobStatus, Operation

SCHEMA_VERSION: Literal[2] = 2


def _event_id() -> str:
    return uuid4().hex


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[2] = SCHEMA_VERSION
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


class JobSpec(BaseModel):
    """What a job runs, fixed when it is created (or handed to a fallback provider): the slot
    snapshot with its template media resolved, the photo, the deadlines, and what the record
    keeps from the request — all a worker needs to run it and to write its final record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    slot_id: str
    slot_version: int
    provider: str
    operation: Operation
    settings: dict[str, Any]
    payload: MediaRef
    templates: tuple[TemplateBinding, ...] = ()
    created_at: datetime
    expires_at: datetime
    #: when the ingest photo and public links to it expire at the latest
    artifact_expires_at: datetime
    #: the provider this job was handed over from (slot fallback), if any
    fallback_from: str | None = None
    #: the client's extra form fields, kept with the job (never validated)
    metadata: dict[str, str] = Field(default_factory=dict)
    #: the digest the client sent with the photo, if any
    client_hash: str | None = None
    #: W3C trace context of the ingest request: one trace per job, across restarts
    trace_parent: str | None = None
    #: sha256 of the job's public result token (`/public/results/{token}`); the token itself
    #: is only ever in the ingest answer, so the job id alone downloads nothing
    result_token_sha256: str | None = None
    #: the client key that submitted the job (`/v1/jobs`, or a booth's own key), if any
    client_key_id: str | None = None
    #: where the job's final status is delivered (a signed webhook), if anywhere
    webhook_url: str | None = None
    #: a second live job with the same join key joins this one instead of running (the same
    #: photo re-sent to the same slot); unique among live jobs
    join_key: str | None = None


class JobCreated(Event):
    """api → dispatcher: a job exists in the database and waits to be routed."""

    job: JobSpec


class ProviderJobRequested(Event):
    """dispatcher (or a provider handing over to a fallback) → provider service."""

    job: JobSpec
    #: the attempt this request starts; a claim of the same attempt by two workers has one
    #: winner
    attempt: int = Field(default=1, ge=1)


class JobStatusChanged(Event):
    """A job reached its final state: outcome, error, and where the result is."""

    job_id: str
    slot_id: str
    provider: str
    status: JobStatus
    outcome: JobOutcome | None = None
    error_code: str | None = None
    error_message: str | None = None
    provider_status: str | None = None
    result: MediaRef | None = None
    expires_at: datetime
    finalized_at: datetime | None = None
    result_expires_at: datetime | None = None
    #: the client key that submitted the job, and its webhook: what the delivery worker needs
    client_key_id: str | None = None
    webhook_url: str | None = None


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


# -- provider admission: one budget and one breaker per provider for the whole fleet ---------


class PermitRequested(Event):
    """provider worker → the provider's admission owner (a dispatcher replica): may this call
    start? One request per provider call (a retry or a resumed attempt asks again). The
    owner answers on the ledger with a `PermitDecision` naming the same `request_id`."""

    provider: str
    request_id: str
    job_id: str
    slot_id: str
    attempt: int = Field(ge=1)
    worker_id: str
    #: the call is of no use if it starts later than this (deadline minus the shortest attempt)
    start_by: datetime
    #: the job's deadline: a granted call holds its place in the budget until then at most
    expires_at: datetime


class PermitDecision(Event):
    """The admission owner's answer, on the ledger (key = provider): granted, or denied with
    the reason (`budget`: no room before `start_by`; `breaker_open`; `spend_cap`). A grant
    takes one request of the provider's per-minute budget and one call at once until its
    `CallEnded` or `lease_until`."""

    provider: str
    request_id: str
    job_id: str
    slot_id: str
    granted: bool
    reason: Literal["budget", "breaker_open", "spend_cap"] | None = None
    message: str | None = None
    #: a half-open breaker's trial call: its end closes or re-opens the breaker
    probe: bool = False
    lease_until: datetime
    #: the dispatcher replica that decided
    owner: str


class CallEnded(Event):
    """provider worker → ledger (key = provider): a permitted call ended. Returns its place
    in the calls at once, tells the breaker how the provider did and adds to the spend.
    `failure` is the provider's fault (5xx, timeout, quota, bad answer); `rejected` is the
    input's (refused, blocked, no image); `abandoned` is the job's (deadline, cancel, stop)."""

    provider: str
    request_id: str
    job_id: str
    slot_id: str
    outcome: Literal["success", "failure", "rejected", "abandoned"]
    error_code: str | None = None
    duration_seconds: float = Field(default=0.0, ge=0)
    #: what the provider's answer reported (tokens, images), a few numbers
    usage: dict[str, float] = Field(default_factory=dict)
    #: estimated from the provider's price table (configs/providers.json `prices`)
    cost: float = Field(default=0.0, ge=0)
