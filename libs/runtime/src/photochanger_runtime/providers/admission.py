"""A provider worker's side of the fleet-wide budget (ADR-0019): before each provider call
(a retry and a resumed attempt included) it asks the provider's admission owner for a permit
and waits for the answer on the ledger; when the call ends it says how it went.

    permit = await admission.acquire(job, attempt=..., call=..., start_by=...)
    try: ...call the provider...
    finally: await admission.release(permit, outcome, usage=..., cost=...)

A request whose answer does not come (the owner was killed or its partition moved) is sent
again every few seconds; the owner decides each request id once. A denial or no answer by
`start_by` raises `AdmissionDenied` — the job goes to its fallback or ends at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from photochanger_contracts import (
    CallEnded,
    PermitDecision,
    PermitRequested,
    ProviderError,
    ProviderErrorCode,
    topics,
)

from ..clock import Clock
from ..jobs import Job
from ..messaging.ledger import LedgerRecord
from ..observability import metrics

log = logging.getLogger(__name__)

Outcome = Literal["success", "failure", "rejected", "abandoned"]
#: a request not answered in this time is sent again
RESEND_SECONDS = 3.0
#: calls an attempt makes at most (`RetryPolicy.max_attempts`)
MAX_CALLS_PER_ATTEMPT = 3


class AdmissionDenied(ProviderError):
    """No permit: the fleet's budget has no room before the job's deadline, the provider's
    breaker is open, or its daily spend cap is reached. Worth the slot's fallback."""

    def __init__(self, code: ProviderErrorCode, message: str, reason: str) -> None:
        super().__init__(code, message, retryable=False)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Permit:
    provider: str
    request_id: str
    job_id: str
    slot_id: str
    probe: bool
    granted_at: float = 0.0


class Publish(Protocol):
    def __call__(
        self, topic: str, event: PermitRequested | CallEnded, *, key: str
    ) -> Awaitable[None]: ...


@dataclass
class FleetAdmission:
    """Permits for one provider's calls, from its admission owner."""

    provider: str
    worker_id: str
    publish: Publish
    clock: Clock
    monotonic: Callable[[], float]
    _waiting: dict[str, asyncio.Future[PermitDecision]] = field(default_factory=dict)

    def on_record(self, record: LedgerRecord, _partition: int = 0) -> None:
        """The ledger reader's callback: a decision some request of ours waits for."""
        if isinstance(record, PermitDecision):
            waiter = self._waiting.get(record.request_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(record)

    async def acquire(self, job: Job, *, call: int, start_by: datetime) -> Permit:
        request = PermitRequested(
            occurred_at=self.clock.now(), provider=self.provider,
            request_id=f"{job.id}:{job.attempt}:{call}", job_id=job.id, slot_id=job.slot_id,
            attempt=job.attempt, worker_id=self.worker_id, start_by=start_by,
            expires_at=job.expires_at,
        )  # fmt: skip
        waiter: asyncio.Future[PermitDecision] = asyncio.get_running_loop().create_future()
        self._waiting[request.request_id] = waiter
        started = self.monotonic()
        try:
            decision = await self._ask(request, waiter)
        finally:
            self._waiting.pop(request.request_id, None)
        metrics.ADMISSION_WAIT.labels(provider=self.provider).observe(self.monotonic() - started)
        if decision is None:
            # nobody answered in time: give back a grant that may still come
            await self._end(request.request_id, job, "abandoned", error_code="no_permit")
            raise AdmissionDenied(
                ProviderErrorCode.QUOTA_EXHAUSTED,
                f"{self.provider}: no permit from the fleet's admission before the deadline",
                "no_answer",
            )
        if not decision.granted:
            code = (
                ProviderErrorCode.UNAVAILABLE
                if decision.reason == "breaker_open"
                else ProviderErrorCode.QUOTA_EXHAUSTED
            )
            raise AdmissionDenied(
                code, decision.message or f"{self.provider}: no permit", decision.reason or ""
            )
        return Permit(
            provider=self.provider, request_id=request.request_id, job_id=job.id,
            slot_id=job.slot_id, probe=decision.probe, granted_at=self.monotonic(),
        )  # fmt: skip

    async def _ask(
        self, request: PermitRequested, waiter: asyncio.Future[PermitDecision]
    ) -> PermitDecision | None:
        # the owner denies at start_by; a little longer covers its answer on the way
        give_up = request.start_by + timedelta(seconds=2)
        while True:
            left = (give_up - self.clock.now()).total_seconds()
            if left <= 0:
                return None
            try:
                await self.publish(topics.PROVIDER_ADMISSIONS, request, key=self.provider)
            except Exception as exc:  # Kafka away: try again while the job has time
                log.warning("permit request not sent", extra={"error": repr(exc)[:200]})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(RESEND_SECONDS, max(left, 0.01))):
                    return await asyncio.shield(waiter)

    async def release(
        self,
        permit: Permit,
        job: Job,
        outcome: Outcome,
        *,
        error_code: str | None = None,
        usage: dict[str, float] | None = None,
        cost: float = 0.0,
    ) -> None:
        duration = max(0.0, self.monotonic() - permit.granted_at)
        await self._end(
            permit.request_id, job, outcome, error_code=error_code, usage=usage, cost=cost,
            duration=duration,
        )  # fmt: skip

    async def abandon(self, job_id: str, attempt: int) -> None:
        """A stopped worker's attempt: its calls are over (the connection died with the
        process), so their places in the calls at once come back now, not at the deadline.
        Said by the worker that takes the attempt's job over."""
        for call in range(1, MAX_CALLS_PER_ATTEMPT + 1):
            record = CallEnded(
                occurred_at=self.clock.now(), provider=self.provider,
                request_id=f"{job_id}:{attempt}:{call}", job_id=job_id, slot_id="",
                outcome="abandoned", error_code="worker_stopped",
            )  # fmt: skip
            await self.publish(topics.PROVIDER_LEDGER, record, key=self.provider)

    async def _end(
        self,
        request_id: str,
        job: Job,
        outcome: Outcome,
        *,
        error_code: str | None = None,
        usage: dict[str, float] | None = None,
        cost: float = 0.0,
        duration: float = 0.0,
    ) -> None:
        record = CallEnded(
            occurred_at=self.clock.now(), provider=self.provider, request_id=request_id,
            job_id=job.id, slot_id=job.slot_id, outcome=outcome, error_code=error_code,
            duration_seconds=duration, usage=usage or {}, cost=cost,
        )  # fmt: skip
        # the owner learns of it, or the lease ends at the job's deadline
        for pause in (0.2, 1.0, 0.0):
            try:
                await self.publish(topics.PROVIDER_LEDGER, record, key=self.provider)
                return
            except Exception as exc:
                log.warning("call end not sent", extra={"error": repr(exc)[:200]})
                if pause:
                    await asyncio.sleep(pause)  # back-off before the next try
