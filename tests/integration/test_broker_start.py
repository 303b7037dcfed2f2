"""Starting the Kafka broker of a service when Kafka is not (fully) there yet, on a real Kafka
reached through a loopback relay that refuses connections as a swamped or absent broker does.

The api retries the start until it works (`photochanger_api.app`); each retry must connect
afresh: a client whose first connection failed is never kept for the next try."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.messaging.broker import consumer, create_broker, ping
from photochanger_runtime.service import start_broker

from tests.support.relay import relay_to

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
#: what a start raises when Kafka closes its connection
_REFUSED = (KafkaError, OSError)


def _service(bootstrap: str) -> tuple[KafkaBroker, ServiceSettings]:
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_partitions=1)
    broker = create_broker(bootstrap, client_id=f"it-start-{uuid.uuid4().hex[:8]}")
    # a fan-out reader like the api's own (no group, from the end of the log)
    topic = f"it-start-{uuid.uuid4().hex[:12]}"

    async def on_message(body: bytes) -> None:
        return None

    broker.subscriber(topic, **consumer(group_id=None, auto_offset_reset="latest"))(on_message)
    return broker, settings


async def _ready(broker: KafkaBroker) -> bool:
    try:
        await ping(broker)
    except (ConnectionError, RuntimeError):
        return False
    return True


async def test_a_start_cut_halfway_is_retried_on_fresh_clients_and_gets_ready(
    kafka_bootstrap: str,
) -> None:
    """The topics are checked (connection 1) and the producer connects (2), then the broker
    drops the admin client's connection (3), as a swamped broker did: the next start must not
    keep the admin client that never connected (readiness would fail on it forever)."""
    async with relay_to(kafka_bootstrap, drop=frozenset({3})) as relay:
        broker, settings = _service(relay.address)
        try:
            with pytest.raises(_REFUSED):
                await asyncio.wait_for(start_broker(broker, settings), TIMEOUT)
            assert relay.refused == 1
            await asyncio.wait_for(start_broker(broker, settings), TIMEOUT)
            assert await _ready(broker)
        finally:
            await broker.stop()


async def test_a_broker_that_comes_up_late_is_connected_by_the_start_retries(
    kafka_bootstrap: str,
) -> None:
    async with relay_to(kafka_bootstrap, refusing=True) as relay:
        broker, settings = _service(relay.address)
        try:
            for _ in range(3):  # Kafka is not there yet: every start fails
                with pytest.raises(_REFUSED):
                    await asyncio.wait_for(start_broker(broker, settings), TIMEOUT)
            relay.refusing = False  # Kafka is up
            await asyncio.wait_for(start_broker(broker, settings), TIMEOUT)
            assert await _ready(broker)
        finally:
            await broker.stop()
    assert relay.refused >= 3
