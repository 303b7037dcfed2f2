"""A booth load for a platform run as a fleet, whose answers are kept for the assertions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from photochanger_devstack.stack import Stack

from tests.support.images import jpeg_photo


@dataclass
class Answer:
    status: int
    seconds: float
    body: dict[str, Any] | None
    content_type: str


@dataclass
class BoothLoad:
    """`rate` jobs a second for `seconds` from `addresses` booth addresses."""

    stack: Stack
    slot_id: str
    rate: float
    seconds: float
    addresses: int
    answers: list[Answer] = field(default_factory=list)

    async def run(self) -> list[Answer]:
        async with httpx.AsyncClient(
            base_url=self.stack.api_url, timeout=120,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        ) as api:  # fmt: skip
            tasks = []
            started = time.monotonic()
            total = int(self.rate * self.seconds)
            for n in range(total):
                due = started + n / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))  # the load's pace
                tasks.append(asyncio.create_task(self._one(api, n)))
            self.answers = list(await asyncio.gather(*tasks))
        return self.answers

    async def _one(self, api: httpx.AsyncClient, n: int) -> Answer:
        address = f"10.21.{n % self.addresses // 250}.{n % self.addresses % 250 + 1}"
        started = time.monotonic()
        response = await api.post(
            f"/ingest/{self.slot_id}",
            data={"password": self.stack.ingest_password},
            files={"fileToUpload": ("photo.jpg", jpeg_photo(10_000 + n), "image/jpeg")},
            headers={"X-Forwarded-For": address},
        )
        kind = response.headers.get("content-type", "")
        body = response.json() if kind.startswith("application/json") else None
        return Answer(response.status_code, time.monotonic() - started, body, kind)


async def emulator_stats(stack: Stack, provider: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        stats: dict[str, Any] = (
            await client.get(f"{stack.url(f'emulator-{provider}')}/_emulator/stats")
        ).json()
        return stats
