"""The whole platform as real processes (the services of photochanger_devstack.topology and
the provider emulators) on the real Kafka broker and MongoDB-protocol server of the `infra`
fixture. Loaded for the whole repository by the root conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore, open_media_store
from pymongo import AsyncMongoClient

from tests.e2e import platforms
from tests.support.otlp import SpanStore, start_receiver


@pytest.fixture(scope="session")
def spans() -> Iterator[SpanStore]:
    """Every span the services of the stack export (OTLP/HTTP, kept in memory)."""
    server, store = start_receiver()
    platforms.RECEIVER["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield store
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory, spans: SpanStore
) -> Iterator[Stack]:
    """The platform with its media in a directory (the embedded default)."""
    del spans  # started first so the services export to it
    platform = platforms.start_stack(infra, tmp_path_factory.mktemp("stack"))
    try:
        yield platform
    finally:
        platform.stop_all()


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
    store = open_media_store(stack.env["PHOTOCHANGER_MEDIA_URL"], env=stack.env)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def emulators(stack: Stack) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client of each provider's emulator (every provider of configs/providers.json)."""
    async with contextlib.AsyncExitStack() as clients:
        yield {
            provider: await clients.enter_async_context(
                httpx.AsyncClient(base_url=stack.url(f"emulator-{provider}"), timeout=10)
            )
            for provider in stack.emulated
        }
