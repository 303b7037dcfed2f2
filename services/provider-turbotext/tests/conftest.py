"""Fixtures of the Turbotext emulator tests: an in-process client, and a real media server
for the images Turbotext downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from photochanger_emulators import running
from photochanger_provider_turbotext.emulator import create_turbotext_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TURBOTEXT_KEY = "test-turbotext-key"


@dataclass
class MediaServer:
    """Serves registered bytes at ``/media/{name}`` over real HTTP (what Turbotext downloads)."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.base_url}/media/{name}"

    def missing(self, name: str) -> str:
        return f"{self.base_url}/media/{name}"


@pytest.fixture(scope="session")
async def media() -> AsyncIterator[MediaServer]:
    server = MediaServer()

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        server.hits[name] = server.hits.get(name, 0) + 1
        data = server.files.get(name)
        if data is None:
            return Response(b"gone", status_code=410)
        return Response(data, media_type="application/octet-stream")

    app = Starlette(routes=[Route("/media/{name}", serve)])
    async with running(app) as base_url:
        server.base_url = base_url
        yield server


@pytest.fixture
async def turbotext() -> AsyncIterator[httpx.AsyncClient]:
    """A client bound in-process to a fresh Turbotext emulator (its downloads are real HTTP)."""
    app = create_turbotext_app(TURBOTEXT_KEY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://turbotext.test",
        headers={"Authorization": f"Bearer {TURBOTEXT_KEY}"},
    ) as client:
        yield client
        await app.state.emulator.cancel_work()
