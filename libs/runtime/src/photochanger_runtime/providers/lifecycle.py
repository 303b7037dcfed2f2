"""The provider lifecycle for one claimed attempt, for any `ProviderAdapter`:

    prepare → submit (reference recorded before polling) → poll until done
            → store the result → finalize (one winner) → status event

bounded by the job's deadline and by cancel requests, with retries only for retryable
errors and only while an attempt still fits before `expires_at`. The job's state changes
only through `JobTransitions`; the adapter only speaks HTTP. Log entries of the attempt are
kept in memory and written with the job's final record (or, when someone else finalized it
first, on their own)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from photochanger_contracts import (
    InputImage,
    MediaRef,
    ProviderAdapter,
    ProviderError,
    ProviderErrorCode,
    ProviderInput,
    ProviderResult,
    SlotSettingsError,
    TemplateBinding,
    sniff_image_mime,
    validate_slot_settings,
)
from photochanger_contracts.deadlines import has_room_for, result_expires_at, seconds_left
from photochanger_contracts.slots import FallbackTarget, RetryPolicy
from pymongo.errors import PyMongoError

from ..clock import Clock
from ..configuration.platform_settings import RecentPlatformSettings
from ..configuration.template_media import TemplateMediaCatalog
from ..jobs import Job, JobError, JobTransitions, LogEntry, Transition
from ..media import MediaNotFound, MediaStore, MediaUnavailable, result_key
from ..media.links import MediaLinks
from ..observability import metrics
from ..outages import database_away, wait_out
from .admission import AdmissionDenied, Outcome, Permit
from .catalog import ProviderConfig
from .limits import Admission

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("photochanger.provider_runtime")

_CANCEL_CALL_TIMEOUT = 5.0
_MAX_POLL_FAILURES_IN_A_ROW = 5
#: a failure this close to the deadline is the deadline's
_DEADLINE_SLACK = 0.5
#: how long past the deadline a final record waits for an absent database (then the reaper
#: ends the job as a timeout)
_FINAL_WRITE_GRACE_SECONDS = 30.0


@dataclass(slots=True)
class Attempt:
    """What one running attempt knows about itself, shared with the supervising worker."""

    job: Job
    entries: list[LogEntry] = field(default_factory=list)
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    polls: int = 0
    #: taken over from a worker that stopped
    resumed: bool = False

    @property
    def reference(self) -> str | None:
        return self.job.provider_job_reference


@dataclass(frozen=True, slots=True)
class LifecycleDeps:
    transitions: JobTransitions
    media: MediaStore
    links: MediaLinks
    templates: TemplateMediaCatalog
    platform_settings: RecentPlatformSettings
    clock: Clock
    public_base_url: str


T = TypeVar("T")


def _database_or_media_away(exc: BaseException) -> str | None:
    return database_away(exc) or ("media store" if isinstance(exc, MediaUnavailable) else None)


async def _persistently(operation: Callable[[], Awaitable[T]]) -> T:
    """Retry an idempotent step on transient database or media store errors; the job's
    deadline cancels the wait."""
    return await wait_out(operation, _database_or_media_away)


#: how long a call whose deadline is already too close for a whole attempt may wait for a
#: permit: room now, or none
_PERMIT_GRACE_SECONDS = 1.0


class ProviderJobRunner:
    def __init__(
        self,
        adapter: ProviderAdapter,
        config: ProviderConfig,
        deps: LifecycleDeps,
        admission: Admission,
        current_adapter: Callable[[], Awaitable[ProviderAdapter]] | None = None,
    ) -> None:
        self._adapter = adapter
        self._current_adapter = current_adapter
        self._config = config
        self._deps = deps
        self._admission = admission

    @property
    def provider_id(self) -> str:
        return self._config.provider_id

    async def abandon_calls(self, job_id: str, attempt: int) -> None:
        """Give back the fleet budget's places held by a stopped worker's attempt."""
        try:
            await self._admission.abandon(job_id, attempt)
        except Exception as exc:  # its places come back at the job's deadline anyway
            log.warning("stopped attempt's calls not given back", extra={"error": repr(exc)})

    # -- the state machine ------------------------------------------------------------------

    async def run(self, attempt: Attempt) -> None:
        """Drive one claimed attempt to a final state, or stop at the deadline or a cancel."""
        if self._current_adapter is not None:
            # an API key rotated through the admin API reaches new jobs without a restart
            self._adapter = await self._current_adapter()
        with _tracer.start_as_current_span(
            f"{self.provider_id} job", attributes=self._span_attrs(attempt.job)
        ):
            await self._run(attempt)
        if self._adapter.needs_public_urls:
            # the work is over (not merely interrupted by a shutdown, which skips this): the
            # links must not outlive it; the reaper removes them at their expiry otherwise
            try:
                await self._deps.links.delete_for_job(attempt.job.id)
            except PyMongoError as exc:
                log.warning("public links not deleted", extra={"error": type(exc).__name__})

    async def _run(self, attempt: Attempt) -> None:
        left = seconds_left(self._deps.clock.now(), attempt.job.expires_at)
        body = asyncio.create_task(self._work(attempt))
        cancel_wait = asyncio.create_task(attempt.cancel_requested.wait())
        try:
            done, _ = await asyncio.wait(
                {body, cancel_wait}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            cancel_wait.cancel()
        if body in done:
            body.result()
            return
        body.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await body
        cancelled = attempt.cancel_requested.is_set()
        await self._abandon(attempt, Transition.CANCEL if cancelled else Transition.TIME_OUT)

    async def _work(self, attempt: Attempt) -> None:
        job = attempt.job
        try:
            if job.cancel_requested:
                attempt.cancel_requested.set()
                await asyncio.Event().wait()  # the supervisor finalizes as cancelled
            # reads the photo and templates, and makes their public links: a database that
            # is away for a while delays the job, it does not fail it
            provider_input = await _persistently(lambda: self._load_input(attempt))
            policy = RetryPolicy.model_validate(job.settings.get("retry_policy", {}))
            result = await self._obtain_result(attempt, provider_input, policy)
            await self._succeed(attempt, result)
        except ProviderError as exc:
            await self._fail(attempt, exc)

    async def _obtain_result(
        self, attempt: Attempt, provider_input: ProviderInput, policy: RetryPolicy
    ) -> ProviderResult:
        prepared = await self._adapter.prepare_payload(provider_input)
        if attempt.reference is not None:
            self._log(attempt, "resumed", details={"reference": attempt.reference})
            return await self._poll_until_done(attempt, attempt.reference)
        for number in range(1, policy.max_attempts + 1):
            try:
                return await self._submit_and_wait(attempt, prepared, call=number)
            except AdmissionDenied:
                raise  # no permit: the fallback or a clear error at once, no retry
            except ProviderError as exc:
                if attempt.reference is not None:
                    raise  # a remote job exists (and was billed): never submit it again
                delay = self._retry_delay(attempt.job, exc, policy, number)
                if delay is None:
                    raise
                metrics.PROVIDER_RETRIES.labels(provider=self.provider_id).inc()
                self._log(
                    attempt,
                    "retry_scheduled",
                    error=exc,
                    details={"attempt": number, "delay_s": round(delay, 2)},
                )
                await asyncio.sleep(delay)  # backoff between provider attempts, not a sync
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _retry_delay(
        self, job: Job, exc: ProviderError, policy: RetryPolicy, number: int
    ) -> float | None:
        """Seconds to wait before the next attempt, or None when no retry is allowed."""
        if not exc.retryable or number >= policy.max_attempts:
            return None
        backoff = policy.backoff_seconds * (2 ** (number - 1)) * random.uniform(0.5, 1.5)
        delay: float = max(backoff, exc.retry_after_seconds or 0.0)
        now = self._deps.clock.now()
        if not has_room_for(now, job.expires_at, delay + self._config.min_attempt_seconds):
            return None
        return delay

    async def _submit_and_wait(
        self, attempt: Attempt, prepared: object, *, call: int
    ) -> ProviderResult:
        """One permitted provider call (with its polls): the permit is asked for first — the
        fleet's budget and breaker (ADR-0019) — and given back with how the call went."""
        job = attempt.job
        # the latest start worth a call; a deadline shorter than the provider's usual attempt
        # still gets its call when the budget has room now (it ends as the deadline's 504)
        worth = job.expires_at - timedelta(seconds=self._config.min_attempt_seconds)
        soon = self._deps.clock.now() + timedelta(seconds=_PERMIT_GRACE_SECONDS)
        start_by = min(job.expires_at, max(worth, soon))
        permit = await self._admission.acquire(job, call=call, start_by=start_by)
        outcome: Outcome = "abandoned"
        error_code: str | None = None
        result: ProviderResult | None = None
        try:
            result = await self._call(attempt, prepared)
            outcome = "success"
            return result
        except ProviderError as exc:
            outcome, error_code = call_outcome(exc), exc.code.value
            raise
        finally:
            await self._ended(permit, job, outcome, error_code, result)

    async def _ended(
        self,
        permit: Permit,
        job: Job,
        outcome: Outcome,
        error_code: str | None,
        result: ProviderResult | None,
    ) -> None:
        usage: dict[str, float] = {}
        if result is not None:
            usage = {"images": 1.0, **{k: float(v) for k, v in _usage(result).items()}}
        cost = self._config.cost_of(usage) if outcome == "success" else 0.0
        metrics.PROVIDER_CALLS.labels(
            provider=self.provider_id, slot_id=job.slot_id, outcome=outcome
        ).inc()
        for figure, amount in usage.items():
            metrics.PROVIDER_USAGE.labels(
                provider=self.provider_id, slot_id=job.slot_id, figure=figure
            ).inc(amount)
        if cost:
            metrics.PROVIDER_COST.labels(provider=self.provider_id, slot_id=job.slot_id).inc(cost)
        # given back even when the attempt is being cancelled: shielded from the cancel
        await asyncio.shield(
            self._admission.release(
                permit, job, outcome, error_code=error_code, usage=usage, cost=cost
            )
        )

    async def _call(self, attempt: Attempt, prepared: object) -> ProviderResult:
        job = attempt.job
        started = time.monotonic()
        try:
            with _tracer.start_as_current_span(
                f"{self.provider_id} submit", kind=SpanKind.CLIENT, attributes=self._span_attrs(job)
            ):
                submission = await self._adapter.submit_job(
                    prepared, timeout=self._call_timeout(job)
                )
        except ProviderError as exc:
            self._count_error(exc)
            self._log(attempt, "submit_failed", error=exc, started=started)
            raise
        finally:
            metrics.PROVIDER_CALL_LATENCY.labels(provider=self.provider_id, call="submit").observe(
                time.monotonic() - started
            )
        details: dict[str, Any] = {"reference": submission.reference}
        if submission.result is not None and submission.result.usage:
            details["usage"] = _usage(submission.result)
        self._log(attempt, "submitted", started=started, details=details)
        if submission.reference is not None:
            # recorded before the first poll: a worker that takes over resumes, never resubmits
            attempt.job = await _persistently(
                lambda: self._deps.transitions.record_reference(job, submission.reference or "")
            )
        if submission.result is not None:
            return submission.result
        if submission.reference is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, "provider returned neither a result nor a job id"
            )
        return await self._poll_until_done(attempt, submission.reference)

    async def _poll_until_done(self, attempt: Attempt, reference: str) -> ProviderResult:
        """Poll at the provider's pace. A transient poll failure is retried (the remote job
        is still there); a non-retryable one, or too many in a row, ends the job."""
        job = attempt.job
        failures_in_a_row = 0
        pause = self._adapter.poll_interval_seconds
        try:
            while True:
                await asyncio.sleep(pause)  # the provider's pace, not a synchronization
                started = time.monotonic()
                attempt.polls += 1
                try:
                    with _tracer.start_as_current_span(
                        f"{self.provider_id} poll",
                        kind=SpanKind.CLIENT,
                        attributes={**self._span_attrs(job), "photochanger.poll": attempt.polls},
                    ):
                        status = await self._adapter.poll_status(
                            reference, timeout=self._call_timeout(job)
                        )
                except ProviderError as exc:
                    self._count_error(exc)
                    self._log(attempt, "poll_failed", error=exc, started=started)
                    failures_in_a_row += 1
                    if not exc.retryable or failures_in_a_row >= _MAX_POLL_FAILURES_IN_A_ROW:
                        raise
                    pause = max(
                        self._adapter.poll_interval_seconds * 2**failures_in_a_row,
                        exc.retry_after_seconds or 0.0,
                    )
                    continue
                finally:
                    metrics.PROVIDER_CALL_LATENCY.labels(
                        provider=self.provider_id, call="poll"
                    ).observe(time.monotonic() - started)
                failures_in_a_row = 0
                pause = self._adapter.poll_interval_seconds
                polled: dict[str, Any] = {"done": status.done}
                if status.result is not None and status.result.usage:
                    polled["usage"] = _usage(status.result)
                self._log(attempt, "polled", started=started, details=polled)
                if status.done:
                    if status.result is None:
                        raise ProviderError(
                            ProviderErrorCode.NO_IMAGE, "provider finished without an image"
                        )
                    return status.result
        finally:
            metrics.PROVIDER_POLLS.labels(provider=self.provider_id).observe(attempt.polls)

    # -- inputs and outputs -------------------------------------------------------------------

    async def _load_input(self, attempt: Attempt) -> ProviderInput:
        job = attempt.job
        photo = await self._input_image("photo", job.payload, job)
        templates = [await self._input_image(t.role, t.media, job) for t in job.templates]
        return ProviderInput(
            job_id=job.id,
            slot_id=job.slot_id,
            operation=job.operation,
            settings=job.settings,
            photo=photo,
            templates=templates,
            expires_at=job.expires_at,
        )

    async def _input_image(self, role: str, ref: MediaRef, job: Job) -> InputImage:
        if ref.mime_type not in self._adapter.accepted_mime_types:
            raise ProviderError(
                ProviderErrorCode.UNSUPPORTED_INPUT,
                f"{self.provider_id} does not accept {ref.mime_type} ({role})",
            )
        try:
            data = await self._deps.media.read(ref.key)
        except MediaNotFound as exc:
            raise ProviderError(
                ProviderErrorCode.UNSUPPORTED_INPUT, f"the {role} image is no longer stored"
            ) from exc
        url = None
        if self._adapter.needs_public_urls:
            link = await self._deps.links.create(
                ref.key, mime_type=ref.mime_type, expires_at=job.artifact_expires_at,
                job_id=job.id, now=self._deps.clock.now(),
            )  # fmt: skip
            url = f"{self._deps.public_base_url.rstrip('/')}/public/media/{link.token}"
        return InputImage(role=role, data=data, mime_type=ref.mime_type, public_url=url)

    async def _succeed(self, attempt: Attempt, result: ProviderResult) -> None:
        job = attempt.job
        deps = self._deps
        mime = sniff_image_mime(result.data[:32])
        if mime is None:
            raise ProviderError(
                ProviderErrorCode.BAD_RESPONSE, "provider answered with bytes that are not an image"
            )
        # The result exists only in this process now (a synchronous provider cannot be asked
        # again without paying twice), so a storage or database hiccup is retried until the
        # deadline.
        retention = (await _persistently(deps.platform_settings.get)).result_ttl_hours
        # the key's expiry bucket: the result expires `retention` after it is finalized, a
        # moment from now
        expires = result_expires_at(deps.clock.now(), retention)
        stored = await _persistently(
            lambda: deps.media.put(
                result_key(job.id, str(job.attempt), expires),
                result.data,
                content_type=mime.value,
            )
        )
        ref = MediaRef(
            key=stored.key, mime_type=mime.value, size_bytes=stored.size_bytes,
            sha256=stored.sha256,
        )  # fmt: skip
        final = await _persistently(
            lambda: deps.transitions.finalize(
                job, Transition.SUCCEED, finalizer=self.provider_id, result=ref,
                result_retention_hours=retention, log_entries=attempt.entries, by_owner=True,
            )
        )  # fmt: skip
        if final is None:
            await deps.media.delete(ref.key)
            metrics.LATE_RESULTS_IGNORED.labels(provider=self.provider_id).inc()
            self._log(attempt, "late_result_ignored")
            await deps.transitions.note(attempt.entries)

    async def _fail(self, attempt: Attempt, exc: ProviderError) -> None:
        if seconds_left(self._deps.clock.now(), attempt.job.expires_at) < _DEADLINE_SLACK:
            # the call ran out of time because the job did: that is a timeout, not the
            # provider's fault (its calls are cut to the time left)
            await self._abandon(attempt, Transition.TIME_OUT)
            return
        error = JobError(
            code=exc.code.value, message=exc.message, provider_status=exc.provider_status
        )
        if await self._hand_over(attempt, exc, error):
            return
        await self._finish(attempt, Transition.FAIL, error)

    async def _hand_over(self, attempt: Attempt, exc: ProviderError, error: JobError) -> bool:
        """Send the job to the slot's fallback provider when the failure may be this
        provider's alone (retryable or quota) and the deadline still has room."""
        job = attempt.job
        raw = job.settings.get("fallback")
        fallback_worthy = (
            exc.retryable
            or exc.code is ProviderErrorCode.QUOTA_EXHAUSTED
            or isinstance(exc, AdmissionDenied)
        )
        if not raw or not fallback_worthy:
            return False  # the chain's end: the settings of the last fallback name none
        target = FallbackTarget.model_validate(raw)
        if not has_room_for(
            self._deps.clock.now(), job.expires_at, self._config.min_attempt_seconds
        ):
            return False
        try:
            bindings = validate_slot_settings(
                target.provider, target.operation, target.settings
            ).template_media
            templates = [
                TemplateBinding(role=b.role, media=await self._template_ref(b.media_id))
                for b in bindings
            ]
        except (SlotSettingsError, MediaNotFound) as problem:
            log.warning("fallback not usable", extra={"error": str(problem)})
            return False
        entry = await self._deps.transitions.hand_over(
            job, provider=target.provider, operation=target.operation.value,
            settings=target.settings, templates=templates, reason=error,
        )  # fmt: skip
        attempt.entries.append(entry)
        # the fallback's worker writes the final record; this attempt's steps go on their own
        await self._deps.transitions.note(attempt.entries)
        return True

    async def _template_ref(self, template_id: str) -> MediaRef:
        template = await self._deps.templates.get(template_id)
        if template is None:
            raise MediaNotFound(template_id)
        return template.ref

    async def _abandon(self, attempt: Attempt, transition: Transition) -> None:
        """Deadline or cancel: stop remote work, then finalize unless someone already did."""
        if attempt.reference is not None:
            try:
                async with asyncio.timeout(_CANCEL_CALL_TIMEOUT):
                    await self._adapter.cancel_job(attempt.reference)
                self._log(attempt, "cancel_sent")
            except (ProviderError, TimeoutError) as exc:
                log.warning("provider cancel failed", extra={"error": str(exc)})
        verb = "cancelled" if transition is Transition.CANCEL else "timed out"
        error = JobError(code=transition_code(transition), message=f"job {verb} during processing")
        await self._finish(attempt, transition, error)

    async def _finish(self, attempt: Attempt, transition: Transition, error: JobError) -> None:
        """Write the failed, timed-out or cancelled final record, waiting out a database
        that is away: until the deadline (which cancels the wait and ends the job as a
        timeout), and past it for a grace period, after which the reaper ends the job."""
        left = seconds_left(self._deps.clock.now(), attempt.job.expires_at)
        try:
            final = await wait_out(
                lambda: self._deps.transitions.finalize(
                    attempt.job, transition, finalizer=self.provider_id, error=error,
                    log_entries=attempt.entries, by_owner=True,
                ),
                database_away,
                give_up_in=max(left, 0.0) + _FINAL_WRITE_GRACE_SECONDS,
            )  # fmt: skip
        except PyMongoError as exc:
            if database_away(exc) is None:
                raise
            log.warning(
                "final record not written; the reaper ends the job",
                extra={"error": type(exc).__name__},
            )
            return
        if final is None:  # someone finalized it first: keep this attempt's steps anyway
            await self._deps.transitions.note(attempt.entries)

    # -- helpers ------------------------------------------------------------------------------

    def _span_attrs(self, job: Job) -> dict[str, str | int]:
        return {
            "photochanger.job_id": job.id,
            "photochanger.slot_id": job.slot_id,
            "photochanger.provider": self.provider_id,
            "photochanger.attempt": job.attempt,
        }

    def _call_timeout(self, job: Job) -> float:
        """A provider call's budget: the provider's request timeout, so that a hung
        connection leaves time to try again — unless no attempt could follow it, then the
        time left: a provider that never answers is the deadline's timeout (a 504 to the
        booth), not a provider error a few seconds before it."""
        left = seconds_left(self._deps.clock.now(), job.expires_at)
        capped = self._config.request_timeout_seconds
        if left - capped < self._config.min_attempt_seconds:
            return max(0.1, left)
        return max(0.1, min(capped, left))

    def _count_error(self, exc: ProviderError) -> None:
        metrics.PROVIDER_ERRORS.labels(provider=self.provider_id, code=exc.code.value).inc()

    def _log(
        self,
        attempt: Attempt,
        event: str,
        *,
        error: ProviderError | None = None,
        started: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        job = attempt.job
        attempt.entries.append(
            LogEntry.of(
                job_id=job.id,
                slot_id=job.slot_id,
                provider=self.provider_id,
                event=event,
                at=self._deps.clock.now(),
                attempt=job.attempt,
                duration_ms=(time.monotonic() - started) * 1000 if started is not None else None,
                provider_status=(
                    error.provider_status or (str(error.http_status) if error.http_status else None)
                    if error
                    else None
                ),
                error_code=error.code.value if error else None,
                error_message=error.message if error else None,
                trace_id=current_trace_id(),
                details=details,
            )
        )


def _usage(result: ProviderResult) -> dict[str, int | float]:
    """The provider's usage figures as the log keeps them: a few numbers, never more."""
    return {
        str(name)[:64]: value
        for name, value in list(result.usage.items())[:16]
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


#: failures that say the provider is in trouble (they count towards its breaker)
_PROVIDER_TROUBLE = frozenset({
    ProviderErrorCode.UNAVAILABLE, ProviderErrorCode.TIMEOUT, ProviderErrorCode.BAD_RESPONSE,
    ProviderErrorCode.QUOTA_EXHAUSTED, ProviderErrorCode.AUTH_FAILED,
})  # fmt: skip


def call_outcome(exc: ProviderError) -> Outcome:
    """`failure` when the provider is at fault (its breaker counts it), `rejected` when the
    input was (refused, blocked, no image)."""
    return "failure" if exc.retryable or exc.code in _PROVIDER_TROUBLE else "rejected"


def transition_code(transition: Transition) -> str:
    return "cancelled" if transition is Transition.CANCEL else "deadline_exceeded"


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
