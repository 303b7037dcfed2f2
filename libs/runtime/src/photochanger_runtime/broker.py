"""Kafka through FastStream: the broker factory, event publishing and the one place where
incoming messages are parsed (schema violations go to the dead-letter topic, the consumer
keeps going).

Delivery is at-least-once: offsets are committed after the handler returns, keys are job ids
(per-job ordering), producers are idempotent with acks=all. Handlers are idempotent through
conditional updates in MongoDB."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from photochanger_contracts import DeadLetter, Event, topics
from pydantic import ValidationError

from . import metrics

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]

_DLQ_PAYLOAD_LIMIT = 8192


def create_broker(bootstrap_servers: str, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        request_timeout_ms=5000,
        graceful_timeout=10.0,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        logger=None,
    )


async def publish(broker: KafkaBroker, topic: str, event: Event, *, key: str) -> None:
    """Publish and wait for the broker's acknowledgement (raises when Kafka is unreachable)."""
    await broker.publish(
        event.model_dump_json().encode(),
        topic,
        key=key.encode(),
        headers={"content-type": "application/json", "event-type": type(event).__name__},
    )


async def send_to_dead_letter(broker: KafkaBroker, msg: Any, error: str) -> None:
    raw = msg.raw_message
    body: bytes = msg.body if isinstance(msg.body, bytes) else bytes(str(msg.body), "utf-8")
    key = raw.key.decode(errors="replace") if getattr(raw, "key", None) else None
    letter = DeadLetter(
        occurred_at=datetime.now(UTC),
        source_topic=getattr(raw, "topic", "?"),
        partition=getattr(raw, "partition", None),
        offset=getattr(raw, "offset", None),
        key=key,
        error=error[:2000],
        payload_text=body[:_DLQ_PAYLOAD_LIMIT].decode(errors="replace"),
    )
    await publish(broker, topics.DEAD_LETTER, letter, key=key or "unknown")
    metrics.DLQ_MESSAGES.labels(topic=letter.source_topic).inc()
    log.warning(
        "message sent to dead-letter topic",
        extra={"topic": letter.source_topic, "offset": letter.offset, "error": error[:200]},
    )


def subscribe(
    broker: KafkaBroker,
    topic: str,
    model: type[E],
    handler: Handler[E],
    *,
    group_id: str | None,
    auto_offset_reset: Literal["earliest", "latest"] = "earliest",
    consumers: int = 1,
) -> None:
    """Register `handler` for `topic`: parse `model`, dead-letter what does not parse.

    `group_id=None` reads every partition without a consumer group (each process sees every
    message; used for the api's status fan-out). `consumers > 1` runs that many consumers of
    the group in this process: partitions are handled in parallel, each still in order and
    committed after its handler, so one slow message does not hold up the others."""

    async def consume(msg: KafkaMessage) -> None:
        try:
            event = model.model_validate_json(msg.body)
        except ValidationError as exc:
            await send_to_dead_letter(broker, msg, f"{model.__name__}: {exc}")
            return
        await handler(event)

    consume.__name__ = f"on_{topic.replace('.', '_')}"
    options: dict[str, Any] = {
        "group_id": group_id,
        "auto_offset_reset": auto_offset_reset,
        # Commit after the handler returned: at-least-once. Without a group there is nothing
        # to commit (fan-out readers start at the end of the log).
        "ack_policy": AckPolicy.ACK if group_id else AckPolicy.ACK_FIRST,
        "max_poll_interval_ms": 120_000,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        "fetch_max_wait_ms": 100,
    }
    if group_id and consumers > 1:
        options["max_workers"] = consumers
    broker.subscriber(topic, **options)(consume)


async def ensure_topics(
    bootstrap_servers: str, names: tuple[str, ...], *, partitions: int, replication_factor: int
) -> None:
    """Create missing topics (idempotent). In Kubernetes the topics are declared as
    `KafkaTopic` resources; this keeps local runs and fresh clusters working the same way."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
            for name in names
            if name not in existing
        ]
        if missing:
            # another service may create them at the same moment
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def ping(broker: KafkaBroker) -> None:
    if not await broker.ping(timeout=2.0):
        raise ConnectionError("Kafka broker unreachable")
