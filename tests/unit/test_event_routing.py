"""Handlers as FastStream subscribes them, on FastStream's test broker (no Kafka): the
dispatcher's routing, the dead-letter middleware, the api's status fan-out and the provider
worker's handler table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from photochanger_api.app import subscribe as subscribe_api
from photochanger_api.client_jobs.feed import StatusFeed
from photochanger_api.waiters import JobWaiters
from photochanger_contracts import (
    DeadLetter,
    JobCreated,
    JobOutcome,
    JobStatusChanged,
    ProviderJobRequested,
    topics,
)
from photochanger_dispatcher.app import subscribe as subscribe_dispatcher
from photochanger_dispatcher.handlers import Dispatcher
from photochanger_runtime.clock import ManualClock
from photochanger_runtime.config import repository_root
from photochanger_runtime.jobs import JobTransitions
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from photochanger_runtime.media.memory import InMemoryMediaStore
from photochanger_runtime.messaging.broker import KafkaEventBus, consumer, create_broker
from photochanger_runtime.providers.catalog import load_catalog

from tests.support.jobs import T0, spec

PROVIDERS = ("gemini", "turbotext")


class Probe:
    """Every message of a topic, as the JSON a consumer would read."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self.seen: list[dict[str, Any]] = []

        async def record(body: dict[str, Any]) -> None:
            self.seen.append(body)

        broker.subscriber(topic, **consumer(group_id=f"probe-{topic}"))(record)


@pytest.fixture
async def routed() -> AsyncIterator[tuple[KafkaBroker, InMemoryJobStore, dict[str, Probe]]]:
    broker = create_broker("test:9092", client_id="unit")
    bus = KafkaEventBus(
        broker,
        {
            **{topics.provider_requests(p): ProviderJobRequested for p in PROVIDERS},
            topics.JOBS_STATUS: JobStatusChanged,
        },
    )
    store = InMemoryJobStore()
    clock = ManualClock(T0)
    transitions = JobTransitions(store=store, bus=bus, media=InMemoryMediaStore(), clock=clock)
    catalog = load_catalog(repository_root() / "configs" / "providers.json", {})
    subscribe_dispatcher(broker, Dispatcher(transitions=transitions, catalog=catalog, clock=clock))
    probes = {
        t: Probe(broker, t)
        for t in (*(topics.provider_requests(p) for p in PROVIDERS), topics.JOBS_STATUS,
                  topics.DEAD_LETTER)
    }  # fmt: skip
    async with TestKafkaBroker(broker):
        yield broker, store, probes


async def test_a_created_job_is_routed_to_its_providers_topic_with_everything_it_needs(
    routed: tuple[KafkaBroker, InMemoryJobStore, dict[str, Probe]],
) -> None:
    broker, store, probes = routed
    created = spec(provider="turbotext")
    await broker.publish(JobCreated(occurred_at=T0, job=created), topics.JOBS_CREATED)

    [request] = probes["provider.turbotext.requests"].seen
    assert ProviderJobRequested.model_validate(request).job == created
    assert request["attempt"] == 1
    assert probes["provider.gemini.requests"].seen == []
    assert store.writes == []  # routing reads and writes nothing


async def test_a_job_for_a_provider_without_the_operation_is_finalized_with_a_reason(
    routed: tuple[KafkaBroker, InMemoryJobStore, dict[str, Probe]],
) -> None:
    broker, store, probes = routed
    created = spec(provider="dall-e")
    await broker.publish(JobCreated(occurred_at=T0, job=created), topics.JOBS_CREATED)

    [status] = probes[topics.JOBS_STATUS].seen
    assert (
        status["outcome"] == JobOutcome.PROVIDER_ERROR
        and status["error_code"] == "unknown_provider"
    )
    final = await store.final(created.job_id)
    assert final is not None and final.outcome is JobOutcome.PROVIDER_ERROR


async def test_a_job_past_its_deadline_is_not_routed(
    routed: tuple[KafkaBroker, InMemoryJobStore, dict[str, Probe]],
) -> None:
    broker, _, probes = routed
    stale = spec(now=T0 - timedelta(minutes=5))
    await broker.publish(JobCreated(occurred_at=T0, job=stale), topics.JOBS_CREATED)
    assert probes["provider.gemini.requests"].seen == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"job": {"job_id": "x"}}', b'{"schema_version": 1, "occurred_at": "x"}'],
)
async def test_an_unreadable_message_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    routed: tuple[KafkaBroker, InMemoryJobStore, dict[str, Probe]], body: bytes
) -> None:
    broker, _, probes = routed
    await broker.publish(body, topics.JOBS_CREATED, key=b"job-1")
    await broker.publish(JobCreated(occurred_at=T0, job=spec()), topics.JOBS_CREATED)

    [letter] = probes[topics.DEAD_LETTER].seen
    parsed = DeadLetter.model_validate(letter)
    assert parsed.source_topic == topics.JOBS_CREATED and parsed.key == "job-1"
    assert parsed.payload_text == body.decode() and "ValidationError" in parsed.error
    assert len(probes["provider.gemini.requests"].seen) == 1  # the next message was handled


async def test_every_api_replica_hears_the_final_status_of_its_waiting_requests() -> None:
    broker = create_broker("test:9092", client_id="unit-api")
    waiters = JobWaiters()
    feed = StatusFeed(max_streams=10)
    subscribe_api(broker, waiters, feed)
    created = spec()
    async with TestKafkaBroker(broker):
        outcome = waiters.register(created.job_id, "gemini")
        joined = waiters.register(created.job_id, "gemini")  # a re-sent photo joined the job
        stream = feed.listen(created.job_id)
        queue = stream.__enter__()
        status = JobStatusChanged(
            occurred_at=T0, job_id=created.job_id, slot_id="slot-001", provider="gemini",
            status="finalized", outcome=JobOutcome.TIMEOUT, expires_at=created.expires_at,
        )  # fmt: skip
        await broker.publish(status, topics.JOBS_STATUS)
        assert outcome.done() and outcome.result().outcome is JobOutcome.TIMEOUT
        assert joined.done() and joined.result().outcome is JobOutcome.TIMEOUT
        assert queue.get_nowait().outcome is JobOutcome.TIMEOUT
        stream.__exit__(None, None, None)
        waiters.release(created.job_id, outcome)
        assert len(waiters) == 1 and waiters.waiting_for("gemini") == 1
        waiters.release(created.job_id, joined)
        assert len(waiters) == 0 and waiters.waiting_for("gemini") == 0


async def test_a_publish_kafka_does_not_acknowledge_gives_up_at_the_bus_timeout() -> None:
    broker = create_broker("test:9092", client_id="unit")
    bus = KafkaEventBus(broker, {topics.JOBS_CREATED: JobCreated}, timeout_seconds=0.05)
    never = asyncio.Event()

    async def unacknowledged(body: dict[str, Any]) -> None:
        await never.wait()  # the test broker delivers inline: the publish waits on this

    broker.subscriber(topics.JOBS_CREATED, **consumer(group_id="stuck"))(unacknowledged)
    async with TestKafkaBroker(broker):
        with pytest.raises(TimeoutError):
            await bus.publish(topics.JOBS_CREATED, JobCreated(occurred_at=T0, job=spec()), key="j")
