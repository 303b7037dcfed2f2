"""Helpers of the client job API tests: keys made through the admin API, submissions, and a
Server-Sent Events reader."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.ports import LOOPBACK, free_ports
from photochanger_devstack.procs import BackgroundProcess, start_background
from photochanger_devstack.stack import Stack
from photochanger_devstack.waiting import wait_until_ready

from tests.e2e.admin_session import admin_headers


async def make_key(
    api: httpx.AsyncClient, stack: Stack, *, slots: list[str] | None = None, rate: int = 600
) -> dict[str, Any]:
    response = await api.post(
        "/api/client-keys",
        json={"label": "e2e", "slots": slots or [], "rate_limit_per_minute": rate},
        headers=await admin_headers(api, stack),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


async def submit(
    api: httpx.AsyncClient,
    key: dict[str, Any],
    slot_id: str,
    photo: bytes,
    *,
    headers: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await api.post(
        "/v1/jobs",
        data={"slot_id": slot_id, **(fields or {})},
        files={"photo": ("photo", photo, content_type)},
        headers={**bearer(key), **(headers or {})},
    )


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    key: dict[str, Any],
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
) -> list[dict[str, Any]]:
    """The stream's events (`id`, `event`, `data` parsed) until it ends, or `stop_after` events
    (then the connection is dropped, as a client losing it would)."""
    headers = bearer(key)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                    if stop_after is not None and len(events) >= stop_after:
                        return events
                current = {}
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                current["data"] = json.loads(value)
            elif name in {"id", "event"}:
                current[name] = value
    return events


@contextlib.contextmanager
def extra_api(stack: Stack) -> Iterator[tuple[str, BackgroundProcess]]:
    """Another api replica of the same platform (same database and broker): what a retry or
    a reconnect reaches through a balancer. Yields its URL and process."""
    (port,) = free_ports(1)
    env = {**stack.env, "PHOTOCHANGER_HTTP_PORT": str(port), "PHOTOCHANGER_HTTP_HOST": LOOPBACK,
           "PHOTOCHANGER_SERVICE_NAME": "api"}  # fmt: skip
    process = start_background(
        f"api-{port}",
        [sys.executable, "-m", "photochanger_runtime.launch", "api"],
        log_file=stack.state_dir / "logs" / f"api-{port}.log",
        pid_file=stack.state_dir / f"api-{port}.pid",
        env=env,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        ready = lambda: _ready(f"{url}/readyz")  # noqa: E731
        wait_until_ready(ready, what="api-2", timeout=120, process=process)
        yield url, process
    finally:
        process.stop(15)


@pytest.fixture(scope="module")
def second_api(stack: Stack) -> Iterator[str]:
    with extra_api(stack) as (url, _):
        yield url


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
