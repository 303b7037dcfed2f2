"""Kafka through FastStream: the broker factory, declared publishers (the event bus), the
dead-letter middleware, consumer options and topic provisioning.

Delivery is at-least-once: offsets are committed after the handler returns, keys are job ids
(per-job order), producers are idempotent with acks=all. Handlers are idempotent because every
contested write has one winner (`jobs.store`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import BaseMiddleware
from faststream.exceptions import HandlerException
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.middlewares import AckPolicy
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from opentelemetry import trace
from photochanger_contracts import DeadLetter, Event, topics
from pydantic import ValidationError
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    WTimeoutError,
)

from ..config import ServiceSettings
from ..mongo import database_unavailable
from ..observability import metrics
from ..observability.logs import job_id_var

log = logging.getLogger(__name__)

_DLQ_PAYLOAD_LIMIT = 8192


#: attempts a handler gets for a message when it fails on something transient, and the pause
#: before each retry; the partition waits meanwhile (seconds, well inside a job's deadline)
HANDLER_ATTEMPTS = 3
RETRY_DELAYS_SECONDS = (0.5, 2.0)


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass on its own: a connection, a timeout, an unavailable server."""
    if isinstance(exc, TimeoutError | ConnectionError | AutoReconnect | NetworkTimeout):
        return True
    if isinstance(exc, ExecutionTimeout | WTimeoutError) or database_unavailable(exc):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


class DeadLetterMiddleware(BaseMiddleware):
    """No message is acknowledged without being handled or routed.

    - A message its handler cannot read (schema violation, not JSON) goes to the dead-letter
      topic with the reason at once: it would fail the same way forever.
    - A handler that raises something transient (database or broker unreachable, a timeout)
      is run again, `HANDLER_ATTEMPTS` times in all with a pause between; if it still fails,
      and for any other exception at once, the message goes to the dead-letter topic.

    Every failure is logged with the job id (the message key) and counted
    (`photochanger_consumer_errors_total`); the offset is committed only after this."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        key = _key_of(msg)
        token = job_id_var.set(key) if key else None
        try:
            return await self._handle(call_next, msg, key)
        finally:
            if token is not None:
                job_id_var.reset(token)

    async def _handle(self, call_next: Any, msg: Any, key: str | None) -> Any:
        topic = getattr(msg.raw_message, "topic", "?")
        for attempt in range(1, HANDLER_ATTEMPTS + 1):
            try:
                return await call_next(msg)
            except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                await self._dead_letter(msg, f"{type(exc).__name__}: {exc}")
                return None
            except (HandlerException, asyncio.CancelledError):
                raise
            except Exception as exc:
                context = {"topic": topic, "job_id": key, "attempt": attempt}
                if is_transient(exc) and attempt < HANDLER_ATTEMPTS:
                    metrics.CONSUMER_ERRORS.labels(topic=topic, action="retried").inc()
                    log.warning(
                        "handler failed on a transient error; retrying",
                        extra={**context, "error": repr(exc)[:300]},
                    )
                    await asyncio.sleep(RETRY_DELAYS_SECONDS[attempt - 1])  # back-off
                    continue
                metrics.CONSUMER_ERRORS.labels(topic=topic, action="dead_lettered").inc()
                log.error("handler failed; message dead-lettered", extra=context, exc_info=exc)
                await self._dead_letter(msg, f"handler failed: {type(exc).__name__}: {exc}")
                return None
        return None  # unreachable: the last attempt returns or dead-letters

    async def _dead_letter(self, msg: Any, error: str) -> None:
        await send_to_dead_letter(self.context.get("broker"), msg, error)


def _key_of(msg: Any) -> str | None:
    raw_key = getattr(getattr(msg, "raw_message", None), "key", None)
    return raw_key.decode(errors="replace")[:100] if raw_key else None


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream's form of the transport and authentication settings (see
    `ServiceSettings.kafka_connection` for the aiokafka form the topic admin uses)."""
    protocol = settings.kafka_security_protocol
    context = settings.kafka_ssl_context()
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    assert settings.kafka_sasl_username and settings.kafka_sasl_password
    sasl = {
        "SCRAM-SHA-512": SASLScram512,
        "SCRAM-SHA-256": SASLScram256,
        "PLAIN": SASLPlaintext,
    }[settings.kafka_sasl_mechanism]
    return sasl(
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


class NamedKafkaBroker(KafkaBroker):
    """A KafkaBroker whose Kafka names carry `name_prefix`: every topic it subscribes to or
    publishes to, and every consumer group, so that several installations share one Kafka
    cluster (PHOTOCHANGER_KAFKA_NAME_PREFIX). The code keeps using the logical names of
    photochanger_contracts.topics; only what Kafka sees changes."""

    def __init__(self, *args: Any, name_prefix: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name_prefix = name_prefix

    def kafka_name(self, name: str) -> str:
        return f"{self.name_prefix}{name}"

    def subscriber(self, *topic_names: Any, **options: Any) -> Any:
        if options.get("group_id"):
            options["group_id"] = self.kafka_name(options["group_id"])
        return super().subscriber(*(self.kafka_name(t) for t in topic_names), **options)

    def publisher(self, topic: Any, *args: Any, **options: Any) -> Any:  # type: ignore[override]
        return super().publisher(self.kafka_name(topic), *args, **options)

    async def publish(self, message: Any, topic: str = "", **options: Any) -> Any:
        return await super().publish(message, self.kafka_name(topic), **options)


def create_broker(
    bootstrap_servers: str,
    *,
    client_id: str,
    security: BaseSecurity | None = None,
    publish_timeout_seconds: float = 5.0,
    name_prefix: str = "",
) -> NamedKafkaBroker:
    return NamedKafkaBroker(
        bootstrap_servers,
        name_prefix=name_prefix,
        client_id=client_id,
        security=security,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        # the producer expires a batch it could not send in this time: a publish the caller
        # gave up on is not delivered later behind its back
        request_timeout_ms=round(publish_timeout_seconds * 1000),
        graceful_timeout=10.0,
        middlewares=[
            DeadLetterMiddleware,
            KafkaTelemetryMiddleware(tracer_provider=trace.get_tracer_provider()),
        ],
        description="Kafka; keys are job ids (per-job order); payloads are JSON events",
        logger=log,
        # one line per message received and processed would cost more than the job's work;
        # handler failures are still logged, as errors
        log_level=logging.DEBUG,
    )


class KafkaEventBus:
    """Publishes events through publishers declared up front, one per topic a service writes
    to — so the service's AsyncAPI document lists exactly what it sends."""

    def __init__(
        self,
        broker: KafkaBroker,
        publishes: Mapping[str, type[Event]],
        *,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._timeout = timeout_seconds
        self._publishers = {
            topic: broker.publisher(
                topic,
                schema=model,
                description=(model.__doc__ or "").strip().split("\n")[0] or None,
            )
            for topic, model in publishes.items()
        }

    async def publish(self, topic: str, event: Event, *, key: str) -> None:
        """Publish and wait for the broker's acknowledgement; raises when Kafka is down or
        has not acknowledged within the timeout (TimeoutError)."""
        publisher = self._publishers.get(topic)
        if publisher is None:
            raise LookupError(f"this service declares no publisher for {topic!r}")
        async with asyncio.timeout(self._timeout):
            await publisher.publish(
                event.model_dump_json().encode(),
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
    await broker.publish(
        letter.model_dump_json().encode(),
        topics.DEAD_LETTER,
        key=(key or "unknown").encode(),
        headers={"content-type": "application/json", "event-type": "DeadLetter"},
    )
    metrics.DLQ_MESSAGES.labels(topic=letter.source_topic).inc()
    log.warning(
        "message sent to dead-letter topic",
        extra={"topic": letter.source_topic, "offset": letter.offset, "error": error[:200]},
    )


def consumer(
    *,
    group_id: str | None,
    auto_offset_reset: Literal["earliest", "latest"] = "earliest",
    workers: int = 1,
) -> dict[str, Any]:
    """Subscriber options. `group_id=None` reads every partition without a consumer group
    (each process sees every message: the api's status fan-out). `workers > 1` runs that many
    consumers of the group in the process: partitions are handled in parallel, each in order
    and committed after its handler, so one slow message does not hold up the others."""
    options: dict[str, Any] = {
        "group_id": group_id,
        "auto_offset_reset": auto_offset_reset,
        # Commit after the handler returned: at-least-once. Without a group there is nothing
        # to commit (fan-out readers start at the end of the log).
        "ack_policy": AckPolicy.ACK if group_id else AckPolicy.ACK_FIRST,
        "max_poll_interval_ms": 120_000,
        # a member that died without leaving holds its partitions this long: the shortest
        # session brokers allow by default (group.min.session.timeout.ms)
        "session_timeout_ms": 6_000,
        "heartbeat_interval_ms": 2_000,
        # a fetch returns as soon as a message arrives; this only paces idle consumers
        "fetch_max_wait_ms": 500,
    }
    if group_id and workers > 1:
        options["max_workers"] = workers
    return options


async def ensure_topics(
    bootstrap_servers: str,
    names: tuple[str, ...],
    *,
    partitions: int,
    replication_factor: int,
    connection: Mapping[str, Any] | None = None,
) -> None:
    """Create missing topics (idempotent). In Kubernetes the topics are declared as
    `KafkaTopic` resources (and the services' Kafka users may not create any); this keeps
    local runs and fresh clusters working the same way. `connection`: the transport and
    authentication options (`ServiceSettings.kafka_connection`)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=5000, **(connection or {})
    )
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
    """Ready to make progress: the broker answers, and every subscriber's consume loop runs
    (FastStream restarts a failed loop; one that stays down is a stuck service)."""
    if not await broker.ping(timeout=2.0):
        raise ConnectionError("Kafka broker unreachable")
    for subscriber in broker.subscribers:
        tasks = getattr(subscriber, "tasks", [])
        if not tasks or any(task.done() for task in tasks):
            raise RuntimeError(f"the consumer of {_topics_of(subscriber)} is not running")


def _topics_of(subscriber: Any) -> str:
    return ", ".join(getattr(subscriber, "topics", ()) or ()) or "a topic"
