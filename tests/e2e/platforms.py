"""Platforms for the end-to-end tests: the whole stack as processes, and a broker of its own
for a platform started next to the session's."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from photochanger_devstack import kafka
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.ports import free_ports
from photochanger_devstack.stack import Stack, create_stack

E2E_ENV = {
    "PHOTOCHANGER_TURBOTEXT_POLL_INTERVAL_SECONDS": "0.3",
    "PHOTOCHANGER_LEASE_SECONDS": "3",
    "PHOTOCHANGER_RECOVERY_INTERVAL_SECONDS": "0.5",
    "PHOTOCHANGER_STATUS_REREAD_SECONDS": "5",
    "PHOTOCHANGER_JOBS_INTERVAL_SECONDS": "1",
    "PHOTOCHANGER_MEDIA_INTERVAL_SECONDS": "1",
    "PHOTOCHANGER_PROVIDER_KEY_REFRESH_SECONDS": "0",
    # tests change slots and settings in the database directly: the api reads them each time
    "PHOTOCHANGER_CONFIG_MAX_AGE_SECONDS": "0",
    # the tests stand in for an ingress: their X-Forwarded-For names the client
    "PHOTOCHANGER_TRUSTED_PROXIES": "127.0.0.1/32",
}


RECEIVER: dict[str, str] = {}


def otlp_env() -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": RECEIVER["endpoint"],
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


@contextlib.contextmanager
def own_broker(infra: Infrastructure, state: Path) -> Iterator[Infrastructure]:
    """The infrastructure with a Kafka broker of its own, for a second platform next to the
    session's: two platforms on one broker would share topics and consumer groups. The
    database is shared (each platform uses its own database name)."""
    if infra.kafka_source != "local":
        pytest.skip("a second platform needs a Kafka broker of its own (local Kafka only)")
    port, controller = free_ports(2)
    running = kafka.start(port, controller, state / "kafka", state / "logs")
    try:
        yield dataclasses.replace(infra, kafka_bootstrap_servers=running.address)
    finally:
        running.stop()


def start_stack(
    infra: Infrastructure, state: Path, extra_env: dict[str, str] | None = None
) -> Stack:
    platform = create_stack(
        infra,
        state,
        ports={},
        database=f"e2e_{uuid.uuid4().hex[:8]}",
        extra_env={**E2E_ENV, **otlp_env(), **(extra_env or {})},
        # real provider keys in the environment must not reach the tests: emulators only
        environ={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
    )
    try:
        platform.start_all()
    except BaseException:
        platform.stop_all()
        raise
    return platform
