"""Reading the providers' ledger (`provider.ledger`): every partition, without a consumer
group, from a point in time (a dispatcher rebuilding the last minute) or from the end (a
provider worker waiting for its permits).

Records are `PermitDecision` and `CallEnded` events, told apart by their `event-type`
header. `caught_up()` waits until everything written before the call has been handed to the
callback: a new admission owner decides only after it has seen every earlier grant."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from photochanger_contracts import CallEnded, PermitDecision, topics
from pydantic import ValidationError

log = logging.getLogger(__name__)

LedgerRecord = PermitDecision | CallEnded
_MODELS: dict[str, type[PermitDecision] | type[CallEnded]] = {
    "PermitDecision": PermitDecision,
    "CallEnded": CallEnded,
}


class LedgerReader:
    def __init__(
        self,
        bootstrap_servers: str,
        on_record: Callable[[LedgerRecord, int], None],
        *,
        since: datetime | None = None,
        connection: dict[str, Any] | None = None,
        topic: str = topics.PROVIDER_LEDGER,
    ) -> None:
        self._on_record = on_record
        self._since = since
        self._topic = topic
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            **(connection or {}),
        )
        self._partitions: list[TopicPartition] = []
        self._progress = asyncio.Condition()
        self._positions: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._metadata: Any = None

    async def start(self) -> None:
        """Join the topic at `since` (or its end) and start reading; returns once every
        partition's starting position is known."""
        consumer = self._consumer
        await consumer.start()
        # the cluster's metadata (aiokafka's public consumer API names topics only)
        self._metadata = await consumer._client.fetch_all_metadata()
        numbers = self._metadata.partitions_for_topic(self._topic) or set()
        if not numbers:
            raise RuntimeError(f"topic {self._topic} has no partitions")
        self._partitions = [TopicPartition(self._topic, n) for n in sorted(numbers)]
        consumer.assign(self._partitions)
        if self._since is None:
            await consumer.seek_to_end(*self._partitions)
        else:
            stamp = int(self._since.timestamp() * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(self._partitions, stamp))
            for tp in self._partitions:
                at = found.get(tp)
                if at is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, at.offset)
        for tp in self._partitions:
            self._positions[tp] = await consumer.position(tp)
        self._task = asyncio.create_task(self._read(), name="ledger-reader")

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has (from the metadata read at start)."""
        return len(self._metadata.partitions_for_topic(topic) or ())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def caught_up(self, timeout: float = 10.0) -> None:
        """Wait until every record written before this call has been read."""
        ends = await self._consumer.end_offsets(self._partitions)
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(
                lambda: all(self._positions.get(tp, 0) >= end for tp, end in ends.items())
            )

    async def _read(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
            except KafkaError as exc:
                log.warning("ledger read failed; retrying", extra={"error": repr(exc)[:200]})
                await asyncio.sleep(1.0)  # back-off while the broker is away
                continue
            for tp, messages in batches.items():
                for message in messages:
                    self._handle(message, tp.partition)
                if messages:
                    self._positions[tp] = messages[-1].offset + 1
            # positions also move past transaction markers and compacted gaps
            for tp in self._partitions:
                with contextlib.suppress(Exception):
                    self._positions[tp] = max(
                        self._positions.get(tp, 0), await self._consumer.position(tp)
                    )
            async with self._progress:
                self._progress.notify_all()

    def _handle(self, message: Any, partition: int) -> None:
        headers = dict(message.headers or ())
        kind = headers.get("event-type", b"").decode(errors="replace")
        model = _MODELS.get(kind)
        if model is None or message.value is None:
            return
        try:
            record = model.model_validate_json(message.value)
        except ValidationError as exc:
            log.warning("unreadable ledger record skipped", extra={"error": str(exc)[:200]})
            return
        try:
            self._on_record(record, partition)
        except Exception:
            log.exception("ledger record not applied")
