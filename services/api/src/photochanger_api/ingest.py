"""The ingest use case: stream the photo into the media store → validate → create the job →
publish `JobCreated` → wait for the job's final status → answer with the image, or 504 at the
deadline.

Order of effects is the no-lost-jobs guarantee: the job exists in MongoDB before any
event mentions it, and a failed publish finalizes the job instead of leaving it pending."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    ErrorCode,
    JobCreated,
    JobOutcome,
    JobStatus,
    MediaRef,
    SlotSettingsError,
    is_slot_id,
    sniff_image_mime,
    topics,
    validate_slot_settings,
)
from photochanger_contracts.deadlines import artifact_expires_at, job_expires_at, seconds_left
from photochanger_contracts.media import COMMON_IMAGE_TYPES, HEIF_FAMILY
from photochanger_runtime import metrics
from photochanger_runtime.broker import publish
from photochanger_runtime.clock import Clock
from photochanger_runtime.job_repository import Job, JobError, JobRepository
from photochanger_runtime.logs import job_id_var, slot_id_var
from photochanger_runtime.media import MediaStore, payload_key
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.outcomes import finalize_and_announce
from photochanger_runtime.platform_settings import PlatformSettings, PlatformSettingsRepository
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.providers.catalog import ProviderCatalog
from photochanger_runtime.slot_repository import Slot, SlotRepository
from photochanger_runtime.telemetry import inject_trace_parent
from pymongo.errors import PyMongoError

from .errors import ApiError
from .multipart import IngestForm, read_ingest_form
from .passwords import IngestPasswordVerifier
from .settings import ApiSettings
from .waiters import JobWaiters

log = logging.getLogger(__name__)

_RESERVED_FIELDS = frozenset({"password", "hash", "fileToUpload", "file"})
_MAX_METADATA_VALUE = 1024


@dataclass(frozen=True, slots=True)
class IngestDeps:
    settings: ApiSettings
    jobs: JobRepository
    slots: SlotRepository
    platform_settings: PlatformSettingsRepository
    media: MediaStore
    links: MediaLinks
    log: ProcessingLog
    broker: KafkaBroker
    clock: Clock
    catalog: ProviderCatalog
    waiters: JobWaiters
    verifier: IngestPasswordVerifier


def require_known_slot(slot_id: str) -> None:
    if not is_slot_id(slot_id):
        raise ApiError(ErrorCode.SLOT_NOT_FOUND, f"unknown slot {slot_id!r}", {"slot_id": slot_id})


async def accept(
    slot_id: str,
    content_type: str | None,
    body: AsyncIterator[bytes],
    deps: IngestDeps,
    *,
    tags: dict[str, str] | None = None,
) -> Job:
    """Receive the photo, create the job and queue it; the job exists and is queued when this
    returns. On any refusal nothing is left behind (no job, no stored photo)."""
    require_known_slot(slot_id)
    platform = await deps.platform_settings.get()
    job_id = str(uuid.uuid4())
    job_id_var.set(job_id)
    started = deps.clock.now()
    # bucketed by the deadline as of now: a slow upload moves the real one a little later,
    # well inside the orphan sweep's grace period
    key = payload_key(job_id, job_expires_at(started, platform.sync_response_seconds))
    form = await read_ingest_form(
        content_type, body, max_file_bytes=deps.settings.max_upload_bytes, store=deps.media,
        key=key,
    )  # fmt: skip
    if tags:
        form = IngestForm(fields={**form.fields, **tags}, file=form.file)
    try:
        job = await create_job(slot_id, job_id, form, platform, deps)
    except BaseException:
        if form.file is not None:
            await deps.media.delete(key)
        raise
    await announce(job, deps)
    await _check_client_hash(job, form.fields.get("hash"), deps)
    # written while the job runs (the request waits anyway), not before it is queued
    with contextlib.suppress(PyMongoError):  # kept buffered and retried by the log itself
        await deps.log.flush()
    return job


async def create_job(
    slot_id: str, job_id: str, form: IngestForm, platform: PlatformSettings, deps: IngestDeps
) -> Job:
    """Validate the request against the slot and create the job; returns the pending job."""
    stored_hash = platform.ingest_password.hash if platform.ingest_password else None
    if not await deps.verifier.verify(stored_hash, form.fields.get("password")):
        raise ApiError(ErrorCode.INVALID_PASSWORD, "wrong or missing ingest password")
    upload = form.file
    if upload is None or upload.stored.size_bytes == 0:
        raise ApiError(
            ErrorCode.FILE_MISSING, "no photo in the request", {"fields": ["fileToUpload", "file"]}
        )
    mime = sniff_image_mime(upload.head)
    slot = await _runnable_slot(slot_id, deps)
    provider = deps.catalog.get(slot.provider)
    accepted = COMMON_IMAGE_TYPES | (HEIF_FAMILY if provider and provider.accepts_heif else set())
    if mime is None or mime not in accepted:
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "the photo is not an image type this slot's provider accepts",
            {"detected": mime.value if mime else None, "accepted": sorted(accepted)},
        )
    if len(deps.waiters) >= deps.settings.max_waiting_requests or (
        deps.waiters.waiting_for(slot.provider) >= deps.settings.max_waiting_per_provider
    ):
        raise ApiError(
            ErrorCode.AT_CAPACITY,
            "the platform is at capacity, try again shortly",
            {"provider": slot.provider},
            headers={"Retry-After": "5"},
        )

    client_hash = form.fields.get("hash")
    payload = MediaRef(
        key=upload.stored.key, mime_type=mime.value, size_bytes=upload.stored.size_bytes,
        sha256=upload.stored.sha256,
    )  # fmt: skip
    now = deps.clock.now()
    expires = job_expires_at(now, platform.sync_response_seconds)
    doc: dict[str, Any] = {
        "_id": job_id,
        "slot_id": slot.id,
        "slot_version": slot.version,
        "provider": slot.provider,
        "operation": slot.operation.value,
        "settings": slot.settings,
        "status": JobStatus.PENDING.value,
        "outcome": None,
        "attempt": 0,
        "payload": payload.model_dump(),
        "result": None,
        "metadata": _client_metadata(form),
        "client_hash": client_hash,
        "trace_parent": inject_trace_parent(),
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
        "expires_at": expires,
        "artifact_expires_at": artifact_expires_at(now, expires, platform.sync_response_seconds),
        "artifacts_purged": False,
    }
    job = await deps.jobs.insert(doc)
    await deps.log.append(
        job_id=job_id, slot_id=slot.id, provider=slot.provider, event="created", at=now,
        details={"size_bytes": payload.size_bytes, "mime_type": payload.mime_type},
    )  # fmt: skip
    metrics.JOBS_CREATED.labels(slot_id=slot.id, provider=slot.provider).inc()
    return job


async def _check_client_hash(job: Job, client_hash: str | None, deps: IngestDeps) -> None:
    """A mismatching `hash` from the client is logged, never fatal. The store computed the
    sha256 while writing; an MD5 (what some booths send) costs a read-back, so only then."""
    if not client_hash or job.payload is None:
        return
    wanted = client_hash.strip().lower()
    if len(wanted) == 32:
        data = await deps.media.read(job.payload.key)
        actual = hashlib.md5(data).hexdigest()  # noqa: S324 - checking the client's digest
    else:
        actual = job.payload.sha256
    if wanted != actual:
        log.warning("client hash does not match the uploaded photo")


async def _runnable_slot(slot_id: str, deps: IngestDeps) -> Slot:
    slot = await deps.slots.get(slot_id)
    if slot is None:
        raise ApiError(ErrorCode.SLOT_NOT_FOUND, f"unknown slot {slot_id!r}", {"slot_id": slot_id})
    slot_id_var.set(slot.id)
    if not slot.is_active:
        raise ApiError(ErrorCode.SLOT_INACTIVE, "this slot is switched off", {"slot_id": slot_id})
    if not deps.catalog.supports(slot.provider, slot.operation):
        raise ApiError(
            ErrorCode.SLOT_NOT_CONFIGURED,
            "the slot's provider does not offer its operation",
            {"provider": slot.provider, "operation": slot.operation.value},
        )
    try:
        validate_slot_settings(slot.provider, slot.operation, slot.settings)
    except SlotSettingsError as exc:
        raise ApiError(
            ErrorCode.SLOT_NOT_CONFIGURED,
            "the slot is not configured for its provider",
            {"problems": [p.model_dump() for p in exc.problems]},
        ) from exc
    return slot


def _client_metadata(form: IngestForm) -> dict[str, str]:
    return {
        name: value[:_MAX_METADATA_VALUE]
        for name, value in form.fields.items()
        if name not in _RESERVED_FIELDS and not name.startswith("$") and "." not in name
    }


async def announce(job: Job, deps: IngestDeps) -> None:
    """Publish `JobCreated`; when Kafka refuses, finalize the job and answer 503."""
    event = JobCreated(
        occurred_at=deps.clock.now(),
        job_id=job.id,
        slot_id=job.slot_id,
        provider=job.provider,
        operation=job.operation,
        created_at=job.created_at,
        expires_at=job.expires_at,
    )
    try:
        await publish(deps.broker, topics.JOBS_CREATED, event, key=job.id)
    except Exception as exc:
        log.error("JobCreated not published", extra={"error": type(exc).__name__})
        await deps.jobs.finalize(
            job.id,
            JobOutcome.PROVIDER_ERROR,
            now=deps.clock.now(),
            error=JobError(code="publish_failed", message="the job could not be queued"),
        )
        await deps.log.append(
            job_id=job.id, slot_id=job.slot_id, provider=job.provider, event="publish_failed",
            at=deps.clock.now(), error_code="publish_failed", error_message=type(exc).__name__,
        )  # fmt: skip
        if job.payload is not None:
            await deps.media.delete(job.payload.key)
        raise ApiError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "the job queue is unavailable, try again shortly",
            {"job_id": job.id},
            headers={"Retry-After": "5"},
        ) from exc


async def await_outcome(job: Job, deps: IngestDeps) -> Job:
    """Wait for the job's final state: the status event, a slow safety re-read, or the deadline."""
    future = deps.waiters.register(job.id, job.provider)
    try:
        while True:
            left = seconds_left(deps.clock.now(), job.expires_at)
            if left <= 0:
                return await _finalize_timeout(job, deps)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, deps.settings.status_reread_seconds)):
                    await asyncio.shield(future)
            try:
                current = await deps.jobs.get(job.id)
            except PyMongoError:
                # a slow or unreachable database must not turn a waiting request into a 503
                # while its job goes on: keep waiting for the event, re-read next time
                log.warning("safety re-read failed; still waiting for the status event")
                continue
            if current is not None and current.is_final:
                return current
    finally:
        deps.waiters.release(job.id, job.provider)


async def _finalize_timeout(job: Job, deps: IngestDeps) -> Job:
    final = await finalize_and_announce(
        job=job,
        outcome=JobOutcome.TIMEOUT,
        error=JobError(code="deadline_exceeded", message="no result before the deadline"),
        finalizer="api",
        jobs=deps.jobs,
        processing_log=deps.log,
        broker=deps.broker,
        clock=deps.clock,
    )
    if final is None:  # someone else finalized it first; answer with what they decided
        final = await deps.jobs.get(job.id)
        assert final is not None
    return final


def failure_for(job: Job) -> ApiError:
    """The error answer for a finalized job that did not succeed."""
    details: dict[str, Any] = {"job_id": job.id}
    if job.outcome is JobOutcome.TIMEOUT:
        details["expires_at"] = job.expires_at.isoformat()
        return ApiError(ErrorCode.DEADLINE_EXCEEDED, "no result before the deadline", details)
    if job.outcome is JobOutcome.CANCELLED:
        return ApiError(ErrorCode.JOB_CANCELLED, "the job was cancelled", details)
    if job.error is not None:
        details["provider_code"] = job.error.code
        if job.error.provider_status:
            details["provider_status"] = job.error.provider_status
    return ApiError(
        ErrorCode.PROVIDER_ERROR,
        job.error.message if job.error else "the provider failed to process the photo",
        details,
    )


def result_of(job: Job) -> MediaRef:
    if job.outcome is not JobOutcome.SUCCEEDED or job.result is None:
        raise failure_for(job)
    return job.result
