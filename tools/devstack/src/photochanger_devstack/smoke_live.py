"""`make smoke-live`: one real call per provider of configs/providers.json through its own
adapter (found by its entry point), for each provider whose key is set.

- every provider needs `PHOTOCHANGER_<PROVIDER>_API_KEY`;
- a provider that downloads its inputs (`needs_public_urls`, e.g. Turbotext) also needs
  `PHOTOCHANGER_SMOKE_IMAGE_URL`, a photo reachable from the internet (a laptop's api is not
  public).

A provider without its settings is reported as SKIPPED, loudly, never as passed. Exit code 1
when a call that ran failed."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from photochanger_contracts import InputImage, Operation, ProviderInput, ProviderResult
from photochanger_runtime.config import repository_root
from photochanger_runtime.providers.catalog import ProviderConfig, load_catalog
from photochanger_runtime.providers.plugins import adapter_factory
from PIL import Image, ImageDraw

Outcome = tuple[str, str]  # (status, detail)

PROMPT = "Make this picture look like a watercolour painting."
CALL_BUDGET_SECONDS = 90


def _photo() -> bytes:
    image = Image.new("RGB", (512, 384), (60, 110, 170))
    ImageDraw.Draw(image).ellipse((180, 80, 330, 230), fill=(235, 200, 170))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _input(provider_id: str, url: str | None) -> ProviderInput:
    return ProviderInput(
        job_id="smoke-live",
        slot_id="slot-001",
        operation=Operation.IMAGE_EDIT,
        settings={"prompt": PROMPT},
        photo=InputImage(role="photo", data=_photo(), mime_type="image/jpeg", public_url=url),
        templates=(),
        expires_at=datetime.now(UTC) + timedelta(seconds=CALL_BUDGET_SECONDS),
    )


async def _call(config: ProviderConfig, http: httpx.AsyncClient) -> ProviderResult:
    """prepare → submit → poll until done, the lifecycle without the platform around it."""
    adapter = adapter_factory(config.provider_id)(config, http)
    url = os.environ.get("PHOTOCHANGER_SMOKE_IMAGE_URL") if config.needs_public_urls else None
    prepared = await adapter.prepare_payload(_input(config.provider_id, url))
    submission = await adapter.submit_job(prepared, timeout=CALL_BUDGET_SECONDS)
    if submission.result is not None:
        return submission.result
    assert submission.reference is not None, "neither a result nor a reference"
    deadline = time.monotonic() + CALL_BUDGET_SECONDS
    while time.monotonic() < deadline:
        await asyncio.sleep(adapter.poll_interval_seconds)  # the provider's pace
        status = await adapter.poll_status(submission.reference, timeout=30)
        if status.done and status.result is not None:
            return status.result
    raise TimeoutError(f"{config.provider_id} did not finish within {CALL_BUDGET_SECONDS} s")


async def _run(config: ProviderConfig) -> Outcome:
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=CALL_BUDGET_SECONDS + 10) as http:
            result = await _call(config, http)
    except Exception as exc:
        return "FAILED", f"{type(exc).__name__}: {exc}"
    usage = f", usage {dict(result.usage)}" if result.usage else ""
    return "passed", (
        f"{result.mime_type}, {len(result.data)} bytes in {time.monotonic() - started:.1f} s"
        + usage
    )


def why_skipped(config: ProviderConfig, environ: dict[str, str]) -> str | None:
    if not config.configured:
        return f"PHOTOCHANGER_{config.provider_id.upper()}_API_KEY is not set"
    if config.needs_public_urls and not environ.get("PHOTOCHANGER_SMOKE_IMAGE_URL"):
        return "PHOTOCHANGER_SMOKE_IMAGE_URL is not set (it downloads its inputs)"
    return None


async def main_async() -> int:
    catalog = load_catalog(repository_root() / "configs" / "providers.json")
    outcomes: dict[str, Outcome] = {}
    for provider_id in catalog.ids():
        config = catalog.get(provider_id)
        assert config is not None
        reason = why_skipped(config, dict(os.environ))
        outcomes[provider_id] = ("SKIPPED", reason) if reason else await _run(config)
    for name, (status, detail) in outcomes.items():
        print(f"smoke-live {name:<10} {status:<8} {detail}")
    skipped = [name for name, (status, _) in outcomes.items() if status == "SKIPPED"]
    if skipped:
        print(
            f"smoke-live: {', '.join(skipped)} NOT verified against the real API (see above)",
            file=sys.stderr,
        )
    if len(skipped) == len(outcomes):
        print("smoke-live: nothing ran (no provider keys configured) — this is not a pass")
    return 1 if any(status == "FAILED" for status, _ in outcomes.values()) else 0


def main() -> None:
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()
