"""The dispatcher as the providers' admission point (ADR-0019).

Permit requests are keyed by provider id, so each provider's requests arrive on one partition
of `provider.admissions`, and that partition has exactly one consumer in the dispatchers'
admission group: the provider's **admission owner**. Only the owner decides; it publishes
every decision on `provider.ledger` (key = provider) before the request's offset is
committed. Every replica — owner or not — folds the whole ledger (grants, denials and the
workers' call ends) into one `ProviderBook` per provider, from a minute back at start-up. A
replica that is handed a provider's partition (a rebalance, a kill, a scale change) first
reads the ledger up to its end, and so decides with every earlier grant counted.

    request ──▶ owner's queue ──admit()──▶ PermitDecision on the ledger ──▶ the worker
    the worker's CallEnded ──▶ the ledger ──▶ every book: the lease ends, the breaker learns

A request the owner never answered (it was killed with the request in its queue) is sent
again by the worker; a request already decided is answered with the same decision again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import murmur2
from faststream.kafka.annotations import KafkaMessage
from photochanger_contracts import CallEnded, PermitDecision, PermitRequested, topics
from photochanger_runtime.clock import Clock
from photochanger_runtime.messaging.broker import KafkaEventBus
from photochanger_runtime.messaging.ledger import LedgerReader, LedgerRecord
from photochanger_runtime.observability import metrics
from photochanger_runtime.providers.catalog import ProviderCatalog, ProviderConfig

from .budget import BreakerState, Limits, ProviderBook, admit
from .health import HealthSnapshots

log = logging.getLogger(__name__)

#: how far back a starting replica reads the ledger: the rate's minute and some
REBUILD_WINDOW = timedelta(seconds=75)
_BREAKER_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def limits_of(config: ProviderConfig) -> Limits:
    return Limits(
        requests_per_minute=config.requests_per_minute,
        max_concurrent=config.concurrency,
        typical_latency_seconds=config.typical_latency_seconds,
        failure_threshold=config.breaker_failures,
        cooldown_seconds=config.breaker_cooldown_seconds,
        daily_spend_cap=config.daily_spend_cap,
    )


def partition_for(provider: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a provider's key."""
    return int(murmur2(provider.encode()) & 0x7FFFFFFF) % partitions


class AdmissionOwner:
    def __init__(
        self,
        catalog: ProviderCatalog,
        bus: KafkaEventBus,
        clock: Clock,
        reader: Callable[[Callable[[LedgerRecord, int], None], datetime], LedgerReader],
        *,
        owner_id: str | None = None,
        snapshots: HealthSnapshots | None = None,
    ) -> None:
        self.owner_id = owner_id or f"dispatcher-{uuid.uuid4().hex[:12]}"
        self._bus = bus
        self._clock = clock
        self.books = {
            p: ProviderBook(p, limits_of(config))
            for p in catalog.ids()
            if (config := catalog.get(p)) is not None
        }
        self._queues: dict[str, list[PermitRequested]] = {p: [] for p in self.books}
        self._decisions: dict[str, PermitDecision] = {}
        self._assigned: set[int] = set()
        self._partitions = 0
        self._synced = False
        self._wake = asyncio.Event()
        self._new_reader = reader
        self._snapshots = snapshots
        self._written: dict[str, dict[str, object]] = {}

    # -- what this replica owns -------------------------------------------------------------

    def owns(self, provider: str) -> bool:
        return (
            self._synced
            and self._partitions > 0
            and partition_for(provider, self._partitions) in self._assigned
        )

    def listener(self) -> ConsumerRebalanceListener:
        owner = self

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
                owner._revoked({tp.partition for tp in revoked})

            async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
                owner._assigned_now({tp.partition for tp in assigned})

        return _Listener()

    def _revoked(self, partitions: set[int]) -> None:
        self._assigned -= partitions
        for provider, queue in self._queues.items():
            if self._partitions and partition_for(provider, self._partitions) in partitions:
                queue.clear()  # the next owner reads them again (uncommitted or re-sent)
        log.info("admission partitions revoked", extra={"partitions": sorted(partitions)})

    def _assigned_now(self, partitions: set[int]) -> None:
        self._assigned |= partitions
        self._synced = False  # decide only after reading the ledger up to its end
        self._wake.set()
        log.info("admission partitions assigned", extra={"partitions": sorted(partitions)})

    # -- inputs ----------------------------------------------------------------------------------

    def on_record(self, record: PermitDecision | CallEnded, _partition: int) -> None:
        """The ledger reader's callback (every record, every provider)."""
        book = self.books.get(record.provider)
        if book is None:
            return
        if isinstance(record, PermitDecision):
            self._decisions.setdefault(record.request_id, record)
        if book.apply(record):
            self._wake.set()

    async def on_permit_requested(self, event: PermitRequested, message: KafkaMessage) -> None:
        book = self.books.get(event.provider)
        if book is None:
            log.warning("permit asked for an unknown provider", extra={"provider": event.provider})
            return
        partition = getattr(message.raw_message, "partition", None)
        if partition is not None and partition not in self._assigned:
            return  # a rebalance is taking it away; its next owner reads it again
        known = self._decisions.get(event.request_id)
        if known is not None:
            # decided before (the worker missed the answer, or asked a previous owner)
            await self._bus.publish(topics.PROVIDER_LEDGER, known, key=event.provider)
            return
        queue = self._queues[event.provider]
        if all(r.request_id != event.request_id for r in queue):
            queue.append(event)
            self._wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Read the ledger and decide, until `stop`."""
        if self._snapshots is not None:
            await self._restore_spend()
        reader = self._new_reader(self.on_record, self._clock.now() - REBUILD_WINDOW)
        await reader.start()
        self._partitions = reader.partition_count(topics.PROVIDER_ADMISSIONS)
        try:
            while not stop.is_set():
                self._wake.clear()
                wake = await self._round(reader)
                self._export()
                await self._snapshot()
                timeout = 1.0
                if wake is not None:
                    timeout = min(1.0, max(0.01, (wake - self._clock.now()).total_seconds()))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
        finally:
            await reader.stop()

    async def _round(self, reader: LedgerReader) -> datetime | None:
        if not self._synced and self._assigned:
            try:
                await reader.caught_up()
            except TimeoutError:
                log.warning("ledger not caught up yet; not deciding")
                return None
            self._synced = True
        wake: datetime | None = None
        now = self._clock.now()
        for provider, book in self.books.items():
            queue = self._queues[provider]
            if not self.owns(provider):
                queue.clear()
                book.prune(now)
                continue
            decisions, still, next_look = admit(book, queue, now, owner=self.owner_id)
            self._queues[provider] = still
            for decision in decisions:
                self._decisions[decision.request_id] = decision
                metrics.ADMISSION_DECISIONS.labels(
                    provider=provider,
                    decision="granted" if decision.granted else decision.reason or "denied",
                ).inc()
                try:
                    await self._bus.publish(topics.PROVIDER_LEDGER, decision, key=provider)
                except Exception as exc:  # the worker asks again; the decision is kept
                    log.warning("decision not published", extra={"error": repr(exc)[:200]})
            if next_look is not None:
                wake = next_look if wake is None else min(wake, next_look)
        self._forget(now)
        return wake

    def _forget(self, now: datetime) -> None:
        horizon = now - timedelta(seconds=180)
        for request_id in [r for r, d in self._decisions.items() if d.occurred_at < horizon]:
            del self._decisions[request_id]

    def _export(self) -> None:
        now = self._clock.now()
        for provider, book in self.books.items():
            limits = book.limits
            metrics.PROVIDER_BUDGET_LIMIT.labels(
                provider=provider, limit="requests_per_minute"
            ).set(limits.requests_per_minute)
            metrics.PROVIDER_BUDGET_LIMIT.labels(
                provider=provider, limit="max_concurrent_jobs"
            ).set(limits.max_concurrent)
            gauges = (
                (metrics.PROVIDER_BREAKER_STATE, _BREAKER_VALUE[book.breaker]),
                (metrics.PROVIDER_BUDGET_IN_FLIGHT, book.in_flight()),
                (metrics.PROVIDER_BUDGET_GRANTS_LAST_MINUTE, book.grants_last_minute(now)),
                (metrics.PROVIDER_SPEND_TODAY, book.spend_today(now)),
            )
            for gauge, value in gauges:
                if self.owns(provider):
                    gauge.labels(provider=provider).set(value)
                else:
                    with contextlib.suppress(KeyError):
                        gauge.remove(provider)

    # -- what the console shows -----------------------------------------------------------------

    async def _restore_spend(self) -> None:
        """Today's spend so far, from the last snapshot (the ledger is read back 75 s only)."""
        assert self._snapshots is not None
        try:
            stored = await self._snapshots.all()
        except Exception as exc:
            log.warning("provider spend not restored", extra={"error": repr(exc)[:200]})
            return
        today = self._clock.now().astimezone(UTC).date()
        for doc in stored:
            book = self.books.get(str(doc.get("_id")))
            at = doc.get("at")
            if book is None or not isinstance(at, datetime) or doc.get("day") != today.isoformat():
                continue
            book.restore_spend(today, float(doc.get("spend_today", 0.0)),
                               dict(doc.get("spend_by_slot", {})), at)  # fmt: skip

    async def _snapshot(self) -> None:
        """The owner (one writer per provider) writes each provider's health and budget use
        to `provider_health`, by `_id`, when it changed."""
        if self._snapshots is None:
            return
        now = self._clock.now()
        for provider, book in self.books.items():
            if not self.owns(provider):
                continue
            doc = health_document(book, now)
            comparable = {k: v for k, v in doc.items() if k != "at"}
            if self._written.get(provider) == comparable:
                continue
            try:
                await self._snapshots.write(provider, doc)
                self._written[provider] = comparable
            except Exception as exc:  # the next round writes it
                log.warning("provider health not written", extra={"error": repr(exc)[:200]})


def health_document(book: ProviderBook, now: datetime) -> dict[str, object]:
    today = now.astimezone(UTC).date()
    return {
        "breaker": book.breaker.value,
        "failures_in_a_row": book.failures_in_a_row,
        "retry_at": book.breaker_retry_at(),
        "requests_per_minute": book.limits.requests_per_minute,
        "max_concurrent_jobs": book.limits.max_concurrent,
        "grants_last_minute": book.grants_last_minute(now),
        "in_flight": book.in_flight(),
        "day": today.isoformat(),
        "spend_today": round(book.spend_today(now), 6),
        "spend_by_slot": {
            slot: round(amount, 6)
            for (day, slot), amount in book.spend_by_slot.items()
            if day == today and slot
        },
        "daily_spend_cap": book.limits.daily_spend_cap,
        "denied": dict(book.denied),
        "at": now,
    }
