"""The whole platform as real processes (five services + provider emulators) on the real
Kafka broker and MongoDB-protocol server of the `infra` fixture."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.stack import Stack, create_stack
from photochanger_runtime.media import MediaStore, open_media_store
from pymongo import AsyncMongoClient

from tests.support.otlp import SpanStore, start_receiver

E2E_ENV = {
    "PHOTOCHANGER_TURBOTEXT_POLL_INTERVAL_SECONDS": "0.3",
    "PHOTOCHANGER_LEASE_SECONDS": "3",
    "PHOTOCHANGER_RECOVERY_INTERVAL_SECONDS": "0.5",
    "PHOTOCHANGER_STATUS_REREAD_SECONDS": "5",
    "PHOTOCHANGER_JOBS_INTERVAL_SECONDS": "1",
    "PHOTOCHANGER_MEDIA_INTERVAL_SECONDS": "1",
    "PHOTOCHANGER_PROVIDER_KEY_REFRESH_SECONDS": "0",
}


@pytest.fixture(scope="session")
def spans() -> Iterator[SpanStore]:
    """Every span the services of the stack export (OTLP/HTTP, kept in memory)."""
    server, store = start_receiver()
    _RECEIVER["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield store
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory, spans: SpanStore
) -> Iterator[Stack]:
    del spans  # started first so the services export to it
    state: Path = tmp_path_factory.mktemp("stack")
    platform = create_stack(
        infra,
        state,
        ports={},
        database=f"e2e_{uuid.uuid4().hex[:8]}",
        extra_env={**E2E_ENV, **_otlp_env()},
        # real provider keys in the environment must not reach the tests: emulators only
        environ={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
    )
    try:
        platform.start_all()
        yield platform
    finally:
        platform.stop_all()


_RECEIVER: dict[str, str] = {}


def _otlp_env() -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": _RECEIVER["endpoint"],
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=90) as client:
        yield client


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.infra.mongodb_uri, tz_aware=True
    )
    try:
        yield client[stack.env["PHOTOCHANGER_MONGODB_DATABASE"]]
    finally:
        await client.close()


@pytest.fixture
async def media(stack: Stack) -> AsyncIterator[MediaStore]:
    """The stack's media store, as its services see it."""
    store = open_media_store(stack.env["PHOTOCHANGER_MEDIA_URL"])
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def emulators(stack: Stack) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=stack.url("emulator-gemini"), timeout=10) as gemini,
        httpx.AsyncClient(base_url=stack.url("emulator-turbotext"), timeout=10) as turbotext,
    ):
        yield {"gemini": gemini, "turbotext": turbotext}
