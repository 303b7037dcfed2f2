"""Provider rate limits and the provider catalog (no I/O beyond a temp file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from photochanger_contracts import Operation
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.providers.limits import DeadlineTooClose, RateLimiter

REPO_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "providers.json"


async def test_rate_limiter_allows_a_burst_then_paces() -> None:
    limiter = RateLimiter(per_minute=600)  # 10/s, bursts of 60
    waits = [await limiter.acquire(max_wait=5) for _ in range(60)]
    assert waits == [0.0] * 60
    started = time.monotonic()
    waited = await limiter.acquire(max_wait=5)
    assert 0 < waited <= 0.2
    assert time.monotonic() - started >= waited * 0.9


async def test_rate_limiter_refuses_a_wait_past_the_deadline() -> None:
    limiter = RateLimiter(per_minute=6)  # one token per 10 s, burst of 1
    assert await limiter.acquire(max_wait=0) == 0.0
    with pytest.raises(DeadlineTooClose):
        await limiter.acquire(max_wait=1.0)


def test_catalog_reads_providers_and_environment_overrides() -> None:
    catalog = load_catalog(
        REPO_CONFIG,
        {
            "PHOTOCHANGER_GEMINI_BASE_URL": "http://127.0.0.1:9",
            "PHOTOCHANGER_GEMINI_API_KEY": "k-123",
            "PHOTOCHANGER_TURBOTEXT_POLL_INTERVAL_SECONDS": "0.5",
        },
    )
    gemini, turbotext = catalog.get("gemini"), catalog.get("turbotext")
    assert gemini is not None and turbotext is not None
    assert gemini.base_url == "http://127.0.0.1:9" and gemini.configured
    assert "k-123" not in repr(gemini)  # keys are secrets, also in reprs
    assert turbotext.poll_interval_seconds == 0.5 and not turbotext.configured
    assert turbotext.needs_public_urls and not turbotext.accepts_heif
    assert catalog.supports("gemini", Operation.STYLE_TRANSFER)
    assert not catalog.supports("dalle", Operation.IMAGE_EDIT)


def test_catalog_rejects_invalid_values(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"x": {"base_url": "http://h", "max_concurrent_jobs": 0}}))
    with pytest.raises(ValueError, match="max_concurrent_jobs"):
        load_catalog(path, {})
