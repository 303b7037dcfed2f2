"""PHOTOCHANGER_KAFKA_NAME_PREFIX on the real broker: the topics a service creates at start,
what it publishes and consumes, and its consumer group all carry the prefix, while the code
keeps the logical names — so several installations can share one Kafka cluster."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaMessage
from photochanger_contracts import topics
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.messaging.broker import consumer, create_broker
from photochanger_runtime.service import start_broker
from pydantic import ValidationError

pytestmark = pytest.mark.integration


async def test_topics_messages_and_groups_carry_the_prefix(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap, kafka_name_prefix=prefix, kafka_topic_partitions=1
    )
    broker = create_broker(kafka_bootstrap, client_id="prefix-test", name_prefix=prefix)
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    @broker.subscriber(topics.JOBS_CREATED, **consumer(group_id="dispatcher"))
    async def handle(body: bytes, message: KafkaMessage) -> None:
        await received.put((message.raw_message.topic, body))  # type: ignore[union-attr]

    await start_broker(broker, settings)
    try:
        await broker.publish(b"hello", topics.JOBS_CREATED, key=b"job-1")
        topic, body = await asyncio.wait_for(received.get(), timeout=60)
    finally:
        await broker.stop()
    assert (topic, body) == (f"{prefix}jobs.created", b"hello")

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        groups = {group[0] for group in await admin.list_consumer_groups()}
    finally:
        await admin.close()
    expected = {prefix + name for name in topics.all_topics(("gemini", "turbotext", "openai"))}
    assert expected <= existing
    assert f"{prefix}dispatcher" in groups


def test_a_prefix_must_end_with_a_dot() -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(kafka_name_prefix="team-a")
    assert ServiceSettings(kafka_name_prefix="team-a.").kafka_name_prefix == "team-a."
