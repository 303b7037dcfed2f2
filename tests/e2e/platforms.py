"""Platforms for the end-to-end tests: the whole stack as processes, and a broker of its own
for a platform started next to the session's.

Replicas: `start_stack(..., replicas={"api": 2, "provider-gemini": 3})` (or a
`PHOTOCHANGER_REPLICAS` string; None reads the environment, so
`PHOTOCHANGER_REPLICAS=... pytest` runs the session's platform with replicas too).
`replica_platform` is a platform of its own (broker and database) with given counts; on the
`Stack`: `kill(name)` / `start(name)` one replica (`api.2`, `provider-gemini.3`),
`scale(service, n)` (from a test's event loop: `platforms.scale`), `replica_url(name)` for
one replica's /readyz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator, Mapping
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
    # webhook retries within a test's patience
    "PHOTOCHANGER_WEBHOOK_FIRST_BACKOFF_SECONDS": "0.5",
    "PHOTOCHANGER_WEBHOOK_SWEEP_SECONDS": "0.5",
}

#: the local webhook receiver of the tests (tests/e2e/test_webhooks.py): the one local origin
#: the platform may deliver to, as configuration allows for a receiver on the machine
WEBHOOK_RECEIVER_PORT = free_ports(1)[0]
E2E_ENV["PHOTOCHANGER_WEBHOOK_LOCAL_ORIGINS"] = f"http://127.0.0.1:{WEBHOOK_RECEIVER_PORT}"


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
    infra: Infrastructure,
    state: Path,
    extra_env: dict[str, str] | None = None,
    replicas: Mapping[str, int] | str | None = None,
) -> Stack:
    platform = create_stack(
        infra,
        state,
        ports={},
        database=f"e2e_{uuid.uuid4().hex[:8]}",
        extra_env={**E2E_ENV, **otlp_env(), **(extra_env or {})},
        # real provider keys in the environment must not reach the tests: emulators only
        environ={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        replicas=replicas,
    )
    try:
        platform.start_all()
    except BaseException:
        platform.stop_all()
        raise
    return platform


@contextlib.contextmanager
def replica_platform(
    infra: Infrastructure,
    state: Path,
    replicas: Mapping[str, int] | str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A whole platform with `replicas` processes per service, on a Kafka broker of its own
    (next to the session's platform) and a database of its own; stopped on exit."""
    with own_broker(infra, state) as own:
        platform = start_stack(own, state / "stack", extra_env, replicas=replicas)
        try:
            yield platform
        finally:
            platform.stop_all()


async def scale(stack: Stack, service: str, count: int) -> list[str]:
    """`Stack.scale` from a test's event loop, which keeps serving meanwhile. The processes
    are started on this thread (a process dies with the thread that started it, and worker
    threads end with the test's loop); readiness waits and graceful stops run on others."""
    started = stack.start_replicas(service, count)
    for name in started:
        await asyncio.to_thread(stack.wait_ready, name)
    return [*started, *await asyncio.to_thread(stack.stop_replicas_beyond, service, count)]
