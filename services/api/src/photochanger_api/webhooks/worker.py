"""The webhook deliverer, running in every api process.

Recording: a consumer *group* (`api-webhooks`) reads `jobs.status`; for a final status that
names a webhook it inserts the delivery and only then lets Kafka commit the message. Each
status is recorded by exactly one live replica, and one that dies before committing has its
partitions — and the uncommitted statuses — handed to another: nothing is lost with a replica.
Sending: the recording replica tries at once; every replica sweeps for deliveries whose retry
is due, and the attempt claim (`deliveries.py`) lets exactly one of them send each attempt.
Attempts back off exponentially until the job's result expires; a 2xx ends them.

Every attempt checks the URL against the SSRF guard (public https hosts only, local origins
only when configured) and the address the connection reached, and follows no redirect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

import httpx
from photochanger_contracts import JobStatus, JobStatusChanged
from photochanger_runtime.clock import Clock
from photochanger_runtime.observability.dbcommands import background
from photochanger_runtime.providers.url_policy import UnsafeUrl, UrlPolicy
from prometheus_client import Counter

from ..client_keys.store import ClientKeyStore
from . import signing
from .deliveries import Attempt, Delivery, State, WebhookDeliveries

log = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = Counter(
    "photochanger_webhook_attempts_total",
    "Webhook delivery attempts, by result (delivered, failed_attempt, gave_up)",
    ["result"],
)
#: when a job's final record names no result expiry (a failed job): as long as a result lives
_DEFAULT_RETENTION = timedelta(hours=72)
_SWEEP_BATCH = 50


def payload(event: JobStatusChanged, base_url: str) -> dict[str, Any]:
    """What the receiver gets: the job as `GET /v1/jobs/{id}` tells its final state."""
    status = event.outcome.value if event.outcome else event.status.value
    result = None
    if event.result is not None:
        result = {
            "url": f"{base_url}/v1/jobs/{event.job_id}/result",
            "mime_type": event.result.mime_type,
            "size_bytes": event.result.size_bytes,
            "expires_at": event.result_expires_at.isoformat() if event.result_expires_at else None,
        }
    error = None
    if event.error_code is not None:
        error = {"code": event.error_code, "message": event.error_message or ""}
    return {
        "type": f"job.{status}",
        "timestamp": event.occurred_at.isoformat(),
        "data": {
            "id": event.job_id,
            "slot_id": event.slot_id,
            "status": status,
            "finalized_at": event.finalized_at.isoformat() if event.finalized_at else None,
            "error": error,
            "result": result,
        },
    }


class WebhookWorker:
    def __init__(
        self,
        deliveries: WebhookDeliveries,
        keys: ClientKeyStore,
        policy: UrlPolicy,
        clock: Clock,
        *,
        worker_id: str,
        base_url: str,
        timeout_seconds: float,
        first_backoff_seconds: float,
        max_backoff_seconds: float,
        sweep_seconds: float,
    ) -> None:
        self._deliveries = deliveries
        self._keys = keys
        self._policy = policy
        self._clock = clock
        self._worker_id = worker_id
        self._base_url = base_url
        self._first_backoff = first_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._sweep_seconds = sweep_seconds
        self._client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._client.aclose()

    # -- recording (the consumer group's handler) ---------------------------------------------

    async def record_webhook(self, event: JobStatusChanged) -> None:
        if event.status is not JobStatus.FINALIZED or not event.webhook_url:
            return
        if event.client_key_id is None:
            return
        now = self._clock.now()
        expires = event.result_expires_at or (event.finalized_at or now) + _DEFAULT_RETENTION
        if expires <= now:
            return
        delivery = Delivery(
            job_id=event.job_id, key_id=event.client_key_id, url=event.webhook_url,
            message_id=f"msg_{event.job_id.replace('-', '')}",
            payload=payload(event, self._base_url), created_at=now, next_attempt_at=now,
            expires_at=expires,
        )  # fmt: skip
        if await self._deliveries.record(delivery):
            self._spawn(self.attempt(delivery))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending ------------------------------------------------------------------------------

    async def run_sweeps(self) -> None:
        """Every `sweep_seconds`: send the deliveries whose retry is due (any replica's)."""
        background()
        while True:
            with contextlib.suppress(Exception):
                await self.sweep_once()
            await asyncio.sleep(self._sweep_seconds)  # the sweep's period, not a sync wait

    async def sweep_once(self) -> int:
        due = await self._deliveries.due(self._clock.now(), _SWEEP_BATCH)
        await asyncio.gather(*(self.attempt(d) for d in due))
        return len(due)

    def backoff(self, attempts: int) -> timedelta:
        seconds = min(self._first_backoff * 2**attempts, self._max_backoff)
        return timedelta(seconds=seconds * random.uniform(1.0, 1.1))

    async def attempt(self, delivery: Delivery) -> None:
        """One attempt, if this replica wins its claim."""
        try:
            now = self._clock.now()
            if not await self._deliveries.claim(delivery, worker=self._worker_id, now=now):
                return
            retry_at = now + self.backoff(delivery.attempts)
            await self._deliveries.reschedule(delivery.job_id, retry_at)
            attempt, permanent = await self._send(delivery, now)
            state: State = "pending"
            if attempt.status_code is not None and 200 <= attempt.status_code < 300:
                state = "delivered"
            elif permanent or retry_at >= delivery.expires_at:
                state = "failed"
            await self._deliveries.finish_attempt(delivery, attempt, state=state)
            WEBHOOK_ATTEMPTS.labels(
                result={"delivered": "delivered", "failed": "gave_up"}.get(state, "failed_attempt")
            ).inc()
            log.info(
                "webhook attempt",
                extra={"job_id": delivery.job_id, "status_code": attempt.status_code,
                       "state": state, "attempt": delivery.attempts + 1},
            )  # fmt: skip
        except Exception:  # the due time stays: a sweep tries again
            log.warning("webhook attempt not completed", exc_info=True)

    async def _send(self, delivery: Delivery, now: datetime) -> tuple[Attempt, bool]:
        """The attempt's outcome, and whether no retry can help."""
        started = time.monotonic()

        def done(status: int | None = None, error: str | None = None) -> Attempt:
            duration = round((time.monotonic() - started) * 1000, 1)
            return Attempt(at=now, status_code=status, error=error, duration_ms=duration)

        key = await self._keys.get(delivery.key_id)
        if key is None:
            return done(error="the client key no longer exists"), True
        url = httpx.URL(delivery.url)
        try:
            await self._policy.check(url)
        except UnsafeUrl as exc:
            return done(error=f"refused: {exc}"), False  # DNS may change: retried
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        headers = signing.headers(key.webhook_secret, delivery.message_id, int(time.time()), body)
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as answer:
                self._policy.check_peer(url, answer)
                return done(status=answer.status_code), False
        except UnsafeUrl as exc:
            return done(error=f"refused: {exc}"), False
        except httpx.HTTPError as exc:
            return done(error=f"{type(exc).__name__}: {str(exc)[:200]}"), False
