"""Fixtures of the OpenAI provider tests: an in-process emulator and an adapter bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from photochanger_provider_openai.emulator import create_openai_app

OPENAI_KEY = "sk-test-openai-key-0123456789"


@pytest.fixture
async def openai() -> AsyncIterator[httpx.AsyncClient]:
    """A client bound in-process to a fresh GPT Image emulator (with the bearer key)."""
    app = create_openai_app(OPENAI_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://openai.test",
        headers={"authorization": f"Bearer {OPENAI_KEY}"},
    ) as client:
        yield client
