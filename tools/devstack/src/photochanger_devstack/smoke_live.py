"""`make smoke-live`: one real call per provider through our adapters, when keys are set.

- Gemini: needs `PHOTOCHANGER_GEMINI_API_KEY`.
- Turbotext: needs `PHOTOCHANGER_TURBOTEXT_API_KEY` and `PHOTOCHANGER_SMOKE_IMAGE_URL`, a photo
  reachable from the internet (Turbotext downloads its inputs; a laptop's api is not public).

A provider without its settings is reported as skipped, never as passed. Exit code 1 when a
call that ran failed."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from photochanger_contracts import InputImage, Operation, ProviderInput, ProviderResult
from photochanger_runtime.config import repository_root
from photochanger_runtime.providers.catalog import ProviderConfig, load_catalog
from PIL import Image, ImageDraw

Outcome = tuple[str, str]  # (status, detail)


def _photo() -> bytes:
    image = Image.new("RGB", (512, 384), (60, 110, 170))
    ImageDraw.Draw(image).ellipse((180, 80, 330, 230), fill=(235, 200, 170))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _input(settings: dict[str, object], url: str | None, data: bytes) -> ProviderInput:
    return ProviderInput(
        job_id="smoke-live",
        slot_id="slot-001",
        operation=Operation.IMAGE_EDIT,
        settings=settings,
        photo=InputImage(role="photo", data=data, mime_type="image/jpeg", public_url=url),
        templates=(),
        expires_at=datetime.now(UTC) + timedelta(seconds=60),
    )


async def _gemini(config: ProviderConfig, http: httpx.AsyncClient) -> ProviderResult:
    from photochanger_provider_gemini.adapter import GeminiAdapter

    adapter = GeminiAdapter(config, http)
    prompt = "Make this picture look like a watercolour painting."
    prepared = await adapter.prepare_payload(_input({"prompt": prompt}, None, _photo()))
    submission = await adapter.submit_job(prepared, timeout=60)
    assert submission.result is not None
    return submission.result


async def _turbotext(config: ProviderConfig, http: httpx.AsyncClient) -> ProviderResult:
    from photochanger_provider_turbotext.adapter import TurbotextAdapter

    adapter = TurbotextAdapter(config, http)
    url = os.environ["PHOTOCHANGER_SMOKE_IMAGE_URL"]
    prepared = await adapter.prepare_payload(_input({"prompt": "watercolour"}, url, _photo()))
    submission = await adapter.submit_job(prepared, timeout=30)
    assert submission.reference is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await asyncio.sleep(config.poll_interval_seconds)
        status = await adapter.poll_status(submission.reference, timeout=30)
        if status.done and status.result is not None:
            return status.result
    raise TimeoutError("Turbotext did not finish within 60 s")


async def _run(
    name: str,
    config: ProviderConfig,
    call: Callable[[ProviderConfig, httpx.AsyncClient], Awaitable[ProviderResult]],
) -> Outcome:
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=70) as http:
            result = await call(config, http)
    except Exception as exc:
        return "FAILED", f"{type(exc).__name__}: {exc}"
    return "passed", (
        f"{result.mime_type}, {len(result.data)} bytes in {time.monotonic() - started:.1f} s"
    )


async def main_async() -> int:
    catalog = load_catalog(repository_root() / "configs" / "providers.json")
    outcomes: dict[str, Outcome] = {}
    gemini, turbotext = catalog.get("gemini"), catalog.get("turbotext")
    if gemini is None or not gemini.configured:
        outcomes["gemini"] = ("skipped", "PHOTOCHANGER_GEMINI_API_KEY is not set")
    else:
        outcomes["gemini"] = await _run("gemini", gemini, _gemini)
    if turbotext is None or not turbotext.configured:
        outcomes["turbotext"] = ("skipped", "PHOTOCHANGER_TURBOTEXT_API_KEY is not set")
    elif not os.environ.get("PHOTOCHANGER_SMOKE_IMAGE_URL"):
        outcomes["turbotext"] = ("skipped", "PHOTOCHANGER_SMOKE_IMAGE_URL is not set")
    else:
        outcomes["turbotext"] = await _run("turbotext", turbotext, _turbotext)
    for name, (status, detail) in outcomes.items():
        print(f"smoke-live {name:<10} {status:<8} {detail}")
    if all(status == "skipped" for status, _ in outcomes.values()):
        print("smoke-live: nothing ran (no provider keys configured) — this is not a pass")
    return 1 if any(status == "FAILED" for status, _ in outcomes.values()) else 0


def main() -> None:
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()
