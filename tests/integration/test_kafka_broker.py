"""The local Kafka broker behaves like the platform expects: keyed messages with headers,
auto-created topics with 3 partitions, idempotent producers, and consumer-group commits."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TIMEOUT = 30.0


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _produce(
    bootstrap: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await asyncio.wait_for(producer.start(), TIMEOUT)
    try:
        metadata = await asyncio.wait_for(
            producer.send_and_wait(topic, value=value, key=key, headers=headers), TIMEOUT
        )
    finally:
        await producer.stop()
    return metadata.partition, metadata.offset


def _consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def test_topic_is_auto_created_with_three_partitions(kafka_bootstrap: str) -> None:
    topic = _unique("it-autocreate")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await asyncio.wait_for(producer.start(), TIMEOUT)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"x"), TIMEOUT)
        partitions = await asyncio.wait_for(producer.partitions_for(topic), TIMEOUT)
    finally:
        await producer.stop()
    assert partitions == {0, 1, 2}


async def test_admin_client_creates_topic(kafka_bootstrap: str) -> None:
    topic = _unique("it-admin")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await asyncio.wait_for(admin.start(), TIMEOUT)
    try:
        await asyncio.wait_for(
            admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]),
            TIMEOUT,
        )

        async def listed() -> bool:  # the broker's metadata catches up a moment later
            return topic in await asyncio.wait_for(admin.list_topics(), TIMEOUT)

        await eventually(listed, timeout=TIMEOUT, what=f"{topic} to be listed")
    finally:
        await admin.close()


async def test_message_round_trip_with_key_headers_and_group_commit(
    kafka_bootstrap: str,
) -> None:
    topic = _unique("it-roundtrip")
    group = _unique("it-group")
    headers = [
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("event-type", b"JobCreated"),
    ]
    partition, offset = await _produce(
        kafka_bootstrap, topic, b"job-1", b'{"job_id": "job-1"}', headers
    )

    consumer = _consumer(kafka_bootstrap, topic, group)
    await asyncio.wait_for(consumer.start(), TIMEOUT)
    try:
        message = await asyncio.wait_for(consumer.getone(), TIMEOUT)
        assert (message.partition, message.offset) == (partition, offset)
        assert message.key == b"job-1"
        assert message.value == b'{"job_id": "job-1"}'
        assert list(message.headers) == headers
        await asyncio.wait_for(consumer.commit(), TIMEOUT)
        committed = await asyncio.wait_for(
            consumer.committed(TopicPartition(topic, partition)), TIMEOUT
        )
        assert committed == offset + 1
    finally:
        await consumer.stop()

    # A new member of the same group resumes after the committed offset: it gets only the
    # message produced afterwards, not the first one again.
    await _produce(kafka_bootstrap, topic, b"job-2", b'{"job_id": "job-2"}', [])
    consumer = _consumer(kafka_bootstrap, topic, group)
    await asyncio.wait_for(consumer.start(), TIMEOUT)
    try:
        message = await asyncio.wait_for(consumer.getone(), TIMEOUT)
        assert message.key == b"job-2"
    finally:
        await consumer.stop()


async def test_same_key_goes_to_same_partition_in_order(kafka_bootstrap: str) -> None:
    topic = _unique("it-ordering")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await asyncio.wait_for(producer.start(), TIMEOUT)
    try:
        sent = [
            await asyncio.wait_for(
                producer.send_and_wait(topic, value=str(i).encode(), key=b"job-42"), TIMEOUT
            )
            for i in range(5)
        ]
    finally:
        await producer.stop()
    assert len({meta.partition for meta in sent}) == 1
    assert [meta.offset for meta in sent] == sorted(meta.offset for meta in sent)

    consumer = _consumer(kafka_bootstrap, topic, _unique("it-group"))
    await asyncio.wait_for(consumer.start(), TIMEOUT)
    try:
        values = [(await asyncio.wait_for(consumer.getone(), TIMEOUT)).value for _ in range(5)]
    finally:
        await consumer.stop()
    assert values == [b"0", b"1", b"2", b"3", b"4"]
