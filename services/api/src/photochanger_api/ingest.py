"""The ingest use case: stream the photo into the media store → check it against the slot →
create the job (`JobTransitions`) → wait for its status event → answer with the image, or 504
at the deadline.

The body is read within `ingest_body_seconds` and `max_request_bytes`; the password is checked
before the photo is stored when the client sends it first, else right after the body. A wrong
one counts against the client's address (`FailureThrottle`).

Order of effects is the no-lost-jobs guarantee: the job is recorded before any event names
it, and a job that cannot be queued is finalized instead of left pending. The waiting request
is registered before the job exists, so the fastest status event still finds it; the answer
comes from that event (outcome and result key), without reading the job again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from photochanger_contracts import (
    ErrorCode,
    JobOutcome,
    JobSpec,
    JobStatusChanged,
    MediaRef,
    is_slot_id,
    sniff_image_mime,
)
from photochanger_contracts.deadlines import artifact_expires_at, job_expires_at, seconds_left
from photochanger_contracts.media import COMMON_IMAGE_TYPES, HEIF_FAMILY
from photochanger_runtime.clock import Clock
from photochanger_runtime.jobs import (
    DuplicateJob,
    Job,
    JobError,
    JobStore,
    JobTransitions,
    PublishFailed,
    RecordUncertain,
    Transition,
    current,
    machine,
)
from photochanger_runtime.media import MediaStore, payload_key
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.observability import metrics
from photochanger_runtime.observability.logs import job_id_var, slot_id_var
from photochanger_runtime.observability.telemetry import inject_trace_parent
from photochanger_runtime.providers.catalog import ProviderCatalog
from photochanger_runtime.providers.url_policy import UnsafeUrl, UrlPolicy
from pymongo.errors import PyMongoError

from . import form_limits, result_links
from .client_address import ClientAddresses
from .client_keys.auth import ClientKeyAuth, KeyRejected, require_slot
from .client_keys.keys import ClientKey, looks_like_key
from .errors import ApiError, dependency_unavailable
from .idempotency import IdempotencyRecords, fingerprint, in_progress
from .ingest_guard import FailureThrottle, UploadSlots
from .live_config import LiveConfig, SlotPlan
from .multipart import IngestForm, read_ingest_form
from .passwords import IngestPasswordVerifier, PasswordChecksBusy
from .settings import ApiSettings
from .unconfirmed_records import UnconfirmedJobs
from .waiters import JobWaiters, ShuttingDown

log = logging.getLogger(__name__)

_RESERVED_FIELDS = frozenset(
    {"password", "hash", "fileToUpload", "file", "photo", "slot_id", "webhook_url"}
)
_MAX_METADATA_VALUE = 1024
#: prefix of every metadata name a client chose; the platform's own names have none
CLIENT_NAMESPACE = "client:"


@dataclass(frozen=True, slots=True)
class IngestDeps:
    settings: ApiSettings
    config: LiveConfig
    transitions: JobTransitions
    jobs: JobStore
    media: MediaStore
    links: MediaLinks
    clock: Clock
    catalog: ProviderCatalog
    waiters: JobWaiters
    verifier: IngestPasswordVerifier
    addresses: ClientAddresses
    uploads: UploadSlots
    throttle: FailureThrottle
    unconfirmed: UnconfirmedJobs
    keys: ClientKeyAuth
    idempotency: IdempotencyRecords
    #: where webhooks may go (the SSRF guard)
    webhook_targets: UrlPolicy


def require_known_slot(slot_id: str) -> None:
    if not is_slot_id(slot_id):
        raise ApiError(ErrorCode.SLOT_NOT_FOUND, f"unknown slot {slot_id!r}", {"slot_id": slot_id})


@dataclass(slots=True)
class Waiting:
    """An accepted job and the request waiting for its outcome (release it when done)."""

    job: Job
    #: None when the caller does not wait (`POST /v1/jobs` without `Prefer: wait`)
    outcome: asyncio.Future[JobStatusChanged] | None
    #: the public result link's token (only its hash is stored); None for a request that
    #: joined another's job (that job's token is its first request's)
    result_token: str | None
    #: the client key that submitted it, if any
    key: ClientKey | None = None
    #: this request joined a job already running (a re-sent photo, an idempotent retry)
    joined: bool = False


@dataclass(frozen=True, slots=True)
class Submission:
    """What the route knows before the body, and how the job is to be made.

    `key`: a client key the route authenticated already (no password is asked);
    `slot_from_form`: the slot is the form's `slot_id` field (`/v1/jobs`), not the path's;
    `idempotency_key`: the request's `Idempotency-Key`; `wait`: the caller waits for the
    outcome; `joinable`: the same photo re-sent to the same slot while its job runs joins it."""

    key: ClientKey | None = None
    slot_from_form: bool = False
    idempotency_key: str | None = None
    wait: bool = True
    joinable: bool = False


async def accept(
    slot_id: str | None,
    content_type: str | None,
    body: AsyncIterator[bytes],
    deps: IngestDeps,
    *,
    tags: dict[str, str] | None = None,
    client: str | None = None,
    submission: Submission = Submission(),
) -> Waiting:
    """Receive the photo, create the job and queue it; the job exists and is queued when this
    returns. On any refusal nothing is left behind (no job, no stored photo). `client` is the
    caller's address, charged for wrong passwords."""
    if slot_id is not None:
        require_known_slot(slot_id)
    if deps.waiters.draining:
        raise _restarting(None)
    platform = await deps.config.settings()
    job_id = str(uuid.uuid4())
    job_id_var.set(job_id)
    started = deps.clock.now()
    # bucketed by the deadline as of now: a slow upload moves the real one a little later,
    # well inside the expiry sweep's grace
    key = payload_key(job_id, job_expires_at(started, platform.sync_response_seconds))
    stored_hash = platform.ingest_password.hash if platform.ingest_password else None
    caller = submission.key
    checked = caller is not None

    async def password_first(fields: Mapping[str, str]) -> None:
        nonlocal checked, caller
        if not checked and "password" in fields:
            caller = await _authenticate(stored_hash, fields["password"], client, deps)
            checked = True

    form = await _read_form(content_type, body, key, password_first, deps)
    outcome: asyncio.Future[JobStatusChanged] | None = None
    try:
        if not checked:
            caller = await _authenticate(stored_hash, form.fields.get("password"), client, deps)
        if submission.slot_from_form:
            slot_id = _form_slot(form)
        assert slot_id is not None
        if caller is not None:
            require_slot(caller, slot_id)
            deps.keys.charge(caller)
        webhook_url = await _webhook_url(form, deps) if submission.slot_from_form else None
        plan, payload = await _check(slot_id, form, deps)
        print_ = None
        if submission.idempotency_key is not None:
            print_ = fingerprint(slot_id, payload.sha256, form.fields)
            scope = caller.id if caller else "ingest"
            earlier = await deps.idempotency.claim(
                scope, submission.idempotency_key, print_, job_id, deps.clock.now()
            )
            if earlier is not None:
                await deps.media.delete(key)
                return await join(earlier, plan.slot.provider, deps, submission, caller)
        if submission.wait:
            outcome = deps.waiters.register(job_id, plan.slot.provider)
    except BaseException:
        if form.file is not None:
            await deps.media.delete(key)
        raise
    token = result_links.new_token(job_id)
    join_key = f"{slot_id}:{payload.sha256}" if submission.joinable else None
    try:
        job = await _create(
            job_id, plan, payload, form, platform.sync_response_seconds, deps,
            result_token_sha256=result_links.digest(token),
            tags=tags or {},
            extras={"client_key_id": caller.id if caller else None, "webhook_url": webhook_url,
                    "join_key": join_key},
        )  # fmt: skip
    except DuplicateJob:
        if outcome is not None:
            deps.waiters.release(job_id, outcome)
        await deps.media.delete(key)
        if submission.idempotency_key is not None:  # it named a job that will never exist
            await deps.idempotency.release(
                caller.id if caller else "ingest", submission.idempotency_key, job_id
            )
        running = await deps.jobs.live_by_join_key(join_key or "")
        if running is None:  # it ended in between: the photo is sent again as a new job
            raise in_progress("re-sent photo") from None
        log.info("a re-sent photo joined the job running for it", extra={"joined": running.id})
        return await join(running.id, plan.slot.provider, deps, submission, caller)
    except BaseException:
        if outcome is not None:
            deps.waiters.release(job_id, outcome)
        if submission.idempotency_key is not None:
            with contextlib.suppress(PyMongoError):
                await deps.idempotency.release(
                    caller.id if caller else "ingest", submission.idempotency_key, job_id
                )
        raise
    _check_client_hash(form)
    return Waiting(job=job, outcome=outcome, result_token=token, key=caller)


async def join(
    job_id: str,
    provider: str,
    deps: IngestDeps,
    submission: Submission,
    caller: ClientKey | None,
) -> Waiting:
    """Wait for a job another request made (the same photo, or the same Idempotency-Key)."""
    outcome = deps.waiters.register(job_id, provider) if submission.wait else None
    try:
        job = await current(deps.jobs, job_id)
    except BaseException:
        if outcome is not None:
            deps.waiters.release(job_id, outcome)
        raise
    if job is None:  # its request is still creating it, or could not
        if outcome is not None:
            deps.waiters.release(job_id, outcome)
        raise in_progress(submission.idempotency_key or "re-sent photo")
    if job.is_final and outcome is not None and not outcome.done():
        outcome.set_result(machine.status_event(job, deps.clock.now()))
    return Waiting(job=job, outcome=outcome, result_token=None, key=caller, joined=True)


def _form_slot(form: IngestForm) -> str:
    slot_id = form.fields.get("slot_id")
    if not slot_id:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "the form has no slot_id",
            {"problems": [{"field": "slot_id", "message": "required"}]},
        )
    require_known_slot(slot_id)
    return slot_id


async def _webhook_url(form: IngestForm, deps: IngestDeps) -> str | None:
    url = form.fields.get("webhook_url")
    if not url:
        return None
    try:
        await deps.webhook_targets.check(httpx.URL(url))
    except (UnsafeUrl, httpx.InvalidURL) as exc:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "webhook_url is not a URL the platform delivers to",
            {"problems": [{"field": "webhook_url", "message": str(exc)}]},
        ) from None
    return url


async def _read_form(
    content_type: str | None,
    body: AsyncIterator[bytes],
    key: str,
    before_photo: Callable[[Mapping[str, str]], Awaitable[None]],
    deps: IngestDeps,
) -> IngestForm:
    """The form within the body deadline and the request size cap."""
    settings = deps.settings
    try:
        async with asyncio.timeout(settings.ingest_body_seconds) as deadline:
            return await read_ingest_form(
                content_type, _capped(body, settings.max_request_bytes),
                max_file_bytes=settings.max_upload_bytes, store=deps.media, key=key,
                before_photo=before_photo,
            )  # fmt: skip
    except TimeoutError:
        if not deadline.expired():
            raise
        metrics.INGEST_REFUSED.labels(reason="body_timeout").inc()
        raise ApiError(
            ErrorCode.REQUEST_TIMEOUT,
            "the request body did not arrive in time",
            {"seconds": settings.ingest_body_seconds},
        ) from None


async def _capped(body: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise request_too_large(limit)
        yield chunk


def request_too_large(limit: int) -> ApiError:
    metrics.INGEST_REFUSED.labels(reason="body_too_large").inc()
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        "the request body is larger than the limit",
        {"max_bytes": limit},
    )


async def _authenticate(
    stored_hash: str | None, password: str | None, client: str | None, deps: IngestDeps
) -> ClientKey | None:
    """The shared ingest password (None), or a booth's own client key given as the password
    (that key); 401 otherwise."""
    if looks_like_key(password):
        try:
            return await deps.keys.identify(password)
        except KeyRejected:
            metrics.INGEST_PASSWORD_FAILURES.inc()
            if client is not None:
                deps.throttle.record(client, deps.verifier.fingerprint(password))
            raise ApiError(ErrorCode.INVALID_PASSWORD, "wrong or missing ingest password") from None
    await _require_password(stored_hash, password, client, deps)
    return None


async def _require_password(
    stored_hash: str | None, password: str | None, client: str | None, deps: IngestDeps
) -> None:
    if client is not None and deps.throttle.restricted(client):
        # throttled, yet it authenticated lately: the known password passes, guesses do not
        if deps.verifier.known_right(stored_hash, password):
            return
        deps.throttle.record(client, deps.verifier.fingerprint(password))
        raise deps.throttle.refuse_guess(client)
    try:
        ok = await deps.verifier.verify(stored_hash, password)
    except PasswordChecksBusy:
        metrics.INGEST_REFUSED.labels(reason="password_checks_busy").inc()
        raise ApiError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "too many password checks in progress, try again shortly",
            {},
            headers={"Retry-After": "1"},
        ) from None
    if not ok:
        metrics.INGEST_PASSWORD_FAILURES.inc()
        if client is not None:
            deps.throttle.record(client, deps.verifier.fingerprint(password))
        raise ApiError(ErrorCode.INVALID_PASSWORD, "wrong or missing ingest password")
    if client is not None:
        deps.throttle.succeeded(client)


async def _check(slot_id: str, form: IngestForm, deps: IngestDeps) -> tuple[SlotPlan, MediaRef]:
    upload = form.file
    if upload is None or upload.stored.size_bytes == 0:
        raise ApiError(
            ErrorCode.FILE_MISSING, "no photo in the request", {"fields": ["fileToUpload", "file"]}
        )
    plan = await _runnable_plan(slot_id, deps)
    provider = deps.catalog.get(plan.slot.provider)
    accepted = COMMON_IMAGE_TYPES | (HEIF_FAMILY if provider and provider.accepts_heif else set())
    mime = sniff_image_mime(upload.head)
    if mime is None or mime not in accepted:
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "the photo is not an image type this slot's provider accepts",
            {"detected": mime.value if mime else None, "accepted": sorted(accepted)},
        )
    if len(deps.waiters) >= deps.settings.max_waiting_requests or (
        deps.waiters.waiting_for(plan.slot.provider) >= deps.settings.max_waiting_per_provider
    ):
        raise ApiError(
            ErrorCode.AT_CAPACITY,
            "the platform is at capacity, try again shortly",
            {"provider": plan.slot.provider},
            headers={"Retry-After": "5"},
        )
    payload = MediaRef(
        key=upload.stored.key, mime_type=mime.value, size_bytes=upload.stored.size_bytes,
        sha256=upload.stored.sha256,
    )  # fmt: skip
    return plan, payload


async def _runnable_plan(slot_id: str, deps: IngestDeps) -> SlotPlan:
    plan = await deps.config.plan(slot_id)
    if plan is None:
        raise ApiError(ErrorCode.SLOT_NOT_FOUND, f"unknown slot {slot_id!r}", {"slot_id": slot_id})
    slot_id_var.set(plan.slot.id)
    if not plan.slot.is_active:
        raise ApiError(ErrorCode.SLOT_INACTIVE, "this slot is switched off", {"slot_id": slot_id})
    if not plan.runnable:
        raise ApiError(
            ErrorCode.SLOT_NOT_CONFIGURED,
            "the slot is not configured for its provider",
            {
                "provider": plan.slot.provider,
                "operation": plan.slot.operation.value,
                "problems": [p.model_dump() for p in plan.problems],
            },
        )
    return plan


async def _create(
    job_id: str,
    plan: SlotPlan,
    payload: MediaRef,
    form: IngestForm,
    sync_response_seconds: float,
    deps: IngestDeps,
    *,
    result_token_sha256: str,
    tags: Mapping[str, str],
    extras: dict[str, Any] | None = None,
) -> Job:
    now = deps.clock.now()
    expires = job_expires_at(now, sync_response_seconds)
    slot = plan.slot
    spec = JobSpec(
        job_id=job_id, slot_id=slot.id, slot_version=slot.version, provider=slot.provider,
        operation=slot.operation, settings=slot.settings, payload=payload,
        templates=plan.templates, created_at=now, expires_at=expires,
        artifact_expires_at=artifact_expires_at(now, expires, sync_response_seconds),
        metadata={**client_metadata(form.fields), **tags}, client_hash=form.fields.get("hash"),
        trace_parent=inject_trace_parent(), result_token_sha256=result_token_sha256,
        **(extras or {}),
    )  # fmt: skip
    try:
        return await deps.transitions.create(spec)
    except RecordUncertain as exc:
        deps.unconfirmed.settle_later(exc.job)
        raise dependency_unavailable(exc.__cause__ or exc) from exc
    except PublishFailed as exc:
        raise ApiError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "the job queue is unavailable, try again shortly",
            {"job_id": job_id},
            headers={"Retry-After": "5"},
        ) from exc


def _check_client_hash(form: IngestForm) -> None:
    """A mismatching `hash` from the client is logged, never fatal. Its MD5, SHA-1 or SHA-256
    was computed while the photo streamed (`form_limits`): nothing is read back."""
    sent = form_limits.client_hash(form.fields)
    if not sent or form.file is None:
        return
    if form_limits.hash_matches(sent, form.file.digests) is False:
        log.warning("client hash does not match the uploaded photo")


def client_fields(metadata: Mapping[str, str]) -> dict[str, str]:
    """The fields the client sent, as it named them (the platform's own are left out)."""
    return {
        name.removeprefix(CLIENT_NAMESPACE): value
        for name, value in metadata.items()
        if name.startswith(CLIENT_NAMESPACE)
    }


def client_metadata(fields: Mapping[str, str]) -> dict[str, str]:
    """The client's own fields, each under `client:` (its namespace: a booth's `test_run`
    is `client:test_run`, never the platform's `test_run`), cut to 1 KiB."""
    return {
        f"{CLIENT_NAMESPACE}{name}": value[:_MAX_METADATA_VALUE]
        for name, value in fields.items()
        if name not in _RESERVED_FIELDS and not name.startswith("$") and "." not in name
    }


async def await_outcome(waiting: Waiting, deps: IngestDeps) -> JobStatusChanged:
    """The job's final status: its event, a slow safety re-read, or the deadline."""
    job = waiting.job
    assert waiting.outcome is not None, "the caller did not register to wait"
    try:
        while True:
            left = seconds_left(deps.clock.now(), job.expires_at)
            if left <= 0:
                return await _finalize_timeout(job, deps)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, deps.settings.status_reread_seconds)):
                    try:
                        return await asyncio.shield(waiting.outcome)
                    except ShuttingDown:
                        raise _restarting(job.id, waiting.result_token, deps) from None
            try:
                final = await deps.jobs.final(job.id)
            except PyMongoError:
                # a slow or unreachable database must not turn a waiting request into a 503
                # while its job goes on: keep waiting for the event, re-read next time
                log.warning("safety re-read failed; still waiting for the status event")
                continue
            if final is not None:
                return machine.status_event(final, deps.clock.now())
    finally:
        deps.waiters.release(job.id, waiting.outcome)


def _restarting(
    job_id: str | None, token: str | None = None, deps: IngestDeps | None = None
) -> ApiError:
    """This api process is stopping. A job already created goes on: its result can be fetched
    from `details.result_url` once it is ready."""
    details: dict[str, Any] = {}
    if job_id:
        details["job_id"] = job_id
    if token and deps:
        details["result_url"] = result_links.result_url(deps.settings.public_base_url, token)
    return ApiError(
        ErrorCode.SERVICE_UNAVAILABLE,
        "the api is restarting, try again shortly",
        details,
        headers={"Retry-After": "5"},
    )


async def _finalize_timeout(job: Job, deps: IngestDeps) -> JobStatusChanged:
    final = await deps.transitions.finalize(
        job, Transition.TIME_OUT, finalizer="api",
        error=JobError(code="deadline_exceeded", message="no result before the deadline"),
    )  # fmt: skip
    if final is None:  # someone else finalized it first; answer with what they decided
        final = await deps.jobs.final(job.id)
        assert final is not None
    return machine.status_event(final, deps.clock.now())


def failure_for(status: JobStatusChanged) -> ApiError:
    """The error answer for a job that did not succeed."""
    details: dict[str, Any] = {"job_id": status.job_id}
    if status.outcome is JobOutcome.TIMEOUT:
        details["expires_at"] = status.expires_at.isoformat()
        return ApiError(ErrorCode.DEADLINE_EXCEEDED, "no result before the deadline", details)
    if status.outcome is JobOutcome.CANCELLED:
        return ApiError(ErrorCode.JOB_CANCELLED, "the job was cancelled", details)
    if status.error_code is not None:
        details["provider_code"] = status.error_code
        if status.provider_status:
            details["provider_status"] = status.provider_status[:40]
    # The provider's own words stay in the job's processing log for admins: they may carry
    # text from whatever the provider (or a URL it named) answered.
    return ApiError(ErrorCode.PROVIDER_ERROR, "the provider failed to process the photo", details)


def result_of(status: JobStatusChanged) -> MediaRef:
    if status.outcome is not JobOutcome.SUCCEEDED or status.result is None:
        raise failure_for(status)
    return status.result
