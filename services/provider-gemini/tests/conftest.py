"""Fixtures of the Gemini emulator tests: in-process and real-socket clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from photochanger_emulators import running
from photochanger_provider_gemini.emulator import create_gemini_app

GEMINI_KEY = "test-gemini-key"


@pytest.fixture
async def gemini() -> AsyncIterator[httpx.AsyncClient]:
    """A client bound in-process to a fresh Gemini emulator."""
    app = create_gemini_app(GEMINI_KEY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gemini.test") as client:
        yield client


@pytest.fixture
async def gemini_live() -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to a fresh Gemini emulator over a real loopback socket."""
    async with (
        running(create_gemini_app(GEMINI_KEY)) as base_url,
        httpx.AsyncClient(base_url=base_url, trust_env=False) as client,
    ):
        yield client
