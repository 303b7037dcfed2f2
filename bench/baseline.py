"""The provider's own share of a job: the same generateContent call the Gemini provider
service makes (built by its adapter from the slot's settings), sent straight to the emulator.

The emulator does not time its requests (`/_emulator/stats` has counters only), so the
baseline is measured from outside: `samples` sequential calls on an otherwise idle stack,
each with a distinct photo made the same way as the load's photos."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from photochanger_contracts import InputImage, Operation, ProviderInput
from photochanger_provider_gemini.adapter import GeminiAdapter
from photochanger_runtime.providers.catalog import ProviderConfig

from bench.payloads import PhotoFactory
from bench.stats import Summary, summarize


async def emulator_baseline(
    config: ProviderConfig,
    slot: dict[str, Any],
    photos: PhotoFactory,
    *,
    samples: int = 50,
    warmup: int = 5,
) -> tuple[Summary, list[float]]:
    """Milliseconds per direct call; the first `warmup` calls are not counted."""
    timings: list[float] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
        adapter = GeminiAdapter(config, http)
        for number in range(warmup + samples):
            photo = photos.make()
            job = ProviderInput(
                job_id=str(uuid.uuid4()),
                slot_id=str(slot["_id"]),
                operation=Operation(slot["operation"]),
                settings=slot["settings"],
                photo=InputImage(role="photo", data=photo.data, mime_type="image/png"),
                templates=[],
                expires_at=datetime.now(UTC) + timedelta(seconds=60),
            )
            prepared = await adapter.prepare_payload(job)
            started = time.monotonic()
            submission = await adapter.submit_job(prepared, timeout=30.0)
            elapsed = (time.monotonic() - started) * 1000
            if submission.result is None:
                raise RuntimeError("the emulator answered without an image")
            if number >= warmup:
                timings.append(elapsed)
    return summarize(timings), timings
