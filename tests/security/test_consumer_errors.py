"""Finding (f): a Kafka handler that raised had its message acknowledged anyway (FastStream's
ACK policy commits after an exception too): the job it carried was silently dropped, and the
error line did not say which job. Now a transient failure is retried a bounded number of
times, anything else (or a failure that outlasts the retries) goes to the dead-letter topic,
every failure is logged with the job id, and the offset moves on only after that."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from photochanger_contracts import topics
from photochanger_runtime.messaging.broker import consumer, create_broker, ensure_topics

pytestmark = pytest.mark.integration

TIMEOUT = 30.0


async def _broker_with(bootstrap: str, topic: str, handler: Any) -> Any:
    await ensure_topics(bootstrap, (topic, topics.DEAD_LETTER), partitions=1, replication_factor=1)
    broker = create_broker(bootstrap, client_id=f"security-{topic}")
    broker.subscriber(topic, **consumer(group_id=f"group-{topic}"))(handler)
    await broker.start()
    return broker


async def _dead_letters(bootstrap: str, key: str) -> list[dict[str, Any]]:
    reader = AIOKafkaConsumer(
        topics.DEAD_LETTER, bootstrap_servers=bootstrap, group_id=f"dlq-{uuid.uuid4().hex}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await reader.start()
    try:
        end = await reader.end_offsets(
            [TopicPartition(topics.DEAD_LETTER, p)
             for p in reader.partitions_for_topic(topics.DEAD_LETTER) or {0}]
        )  # fmt: skip
        found: list[dict[str, Any]] = []

        async def behind() -> bool:
            return any([await reader.position(tp) < offset for tp, offset in end.items()])

        async with asyncio.timeout(TIMEOUT):
            while await behind():
                batch = await reader.getmany(timeout_ms=500)
                found += [
                    json.loads(m.value) for ms in batch.values() for m in ms
                    if m.key == key.encode()
                ]  # fmt: skip
        return found
    finally:
        await reader.stop()


async def _committed(bootstrap: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"group-{topic}")
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


async def test_a_transient_failure_is_retried_and_then_handled(kafka_bootstrap: str) -> None:
    topic = f"security-transient-{uuid.uuid4().hex[:8]}"
    calls: list[dict[str, Any]] = []
    handled = asyncio.Event()

    async def handle(body: dict[str, Any]) -> None:
        calls.append(body)
        if len(calls) < 3:
            raise ConnectionError("database unreachable")
        handled.set()

    broker = await _broker_with(kafka_bootstrap, topic, handle)
    try:
        await broker.publish(b'{"n": 1}', topic, key=b"job-transient")
        await asyncio.wait_for(handled.wait(), TIMEOUT)
    finally:
        await broker.stop()
    assert calls == [{"n": 1}] * 3


async def test_a_failing_handler_dead_letters_its_message_with_the_job_id(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"security-failing-{uuid.uuid4().hex[:8]}"
    job_id = str(uuid.uuid4())
    calls: list[dict[str, Any]] = []

    async def handle(body: dict[str, Any]) -> None:
        calls.append(body)
        raise ValueError("the handler has a bug")

    caplog.set_level(logging.WARNING, logger="photochanger_runtime.messaging.broker")
    broker = await _broker_with(kafka_bootstrap, topic, handle)
    try:
        await broker.publish(b'{"job": "payload"}', topic, key=job_id.encode())
        letters: list[dict[str, Any]] = []
        async with asyncio.timeout(TIMEOUT):
            while not letters:
                letters = await _dead_letters(kafka_bootstrap, job_id)
    finally:
        await broker.stop()

    (letter,) = letters
    assert letter["source_topic"] == topic and letter["key"] == job_id
    assert "ValueError: the handler has a bug" in letter["error"]
    assert json.loads(letter["payload_text"]) == {"job": "payload"}
    assert len(calls) == 1  # not transient: not retried
    logged = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
    assert logged and logged[-1].levelno == logging.ERROR
    assert await _committed(kafka_bootstrap, topic) == 1  # acknowledged only once routed
