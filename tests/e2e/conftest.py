"""Clients of the whole platform (`stack`, in tests/conftest.py: five services + provider
emulators as real processes on the real Kafka broker and MongoDB-protocol server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore, open_media_store
from pymongo import AsyncMongoClient


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
    async with (
        httpx.AsyncClient(base_url=stack.url("emulator-gemini"), timeout=10) as gemini,
        httpx.AsyncClient(base_url=stack.url("emulator-turbotext"), timeout=10) as turbotext,
    ):
        yield {"gemini": gemini, "turbotext": turbotext}
