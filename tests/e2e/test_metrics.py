"""The documented metrics are served, and a real job moves the ones it should."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from photochanger_devstack.stack import SERVICES, Stack

from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DOCS = Path(__file__).resolve().parents[2] / "Docs" / "metrics.md"

#: samples a Gemini job and a Turbotext job must leave, by the service that records them
EXPECTED_SAMPLES = {
    "api": [
        'photochanger_ingest_requests_total{status_code="200"}',
        'photochanger_ingest_latency_seconds_count{outcome="succeeded"}',
        'photochanger_jobs_created_total{provider="gemini",slot_id="slot-001"}',
        "photochanger_ingest_waiting_requests",
    ],
    "dispatcher": ['photochanger_jobs_dispatched_total{provider="turbotext"}'],
    "provider-gemini": [
        'photochanger_jobs_finalized_total{outcome="succeeded",provider="gemini",slot_id="slot-001"}',
        'photochanger_provider_call_seconds_count{call="submit",provider="gemini"}',
        'photochanger_provider_jobs_in_flight{provider="gemini"}',
    ],
    "provider-turbotext": [
        'photochanger_provider_call_seconds_count{call="poll",provider="turbotext"}',
        'photochanger_provider_polls_per_job_count{provider="turbotext"}',
    ],
    "ttl-reaper": ['photochanger_reaper_lag_seconds{kind="jobs"}'],
}


async def _scrape(stack: Stack, service: str) -> str:
    async with httpx.AsyncClient(base_url=stack.url(service), timeout=5) as client:
        return (await client.get("/metrics")).text


async def test_a_job_moves_the_metrics_each_service_documents(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    assert (await ingest(api, stack, "slot-001", jpeg_photo(80))).status_code == 200
    photo = png_photo(81, emulate="polls=1")
    assert (
        await ingest(api, stack, "slot-002", photo, content_type="image/png")
    ).status_code == 200

    for service, samples in EXPECTED_SAMPLES.items():
        text = await _scrape(stack, service)
        for sample in samples:
            assert re.search(rf"^{re.escape(sample)} \d", text, re.MULTILINE), (service, sample)


async def test_every_documented_metric_exists_and_no_other(stack: Stack) -> None:
    documented = set(re.findall(r"^\| `(photochanger_[a-z_]+)`", DOCS.read_text(), re.MULTILINE))
    families: set[str] = set()
    for service in SERVICES:
        text = await _scrape(stack, service)
        for name, kind in re.findall(r"^# TYPE (photochanger_\w+) (\w+)", text, re.MULTILINE):
            if not name.endswith("_created"):  # the client's creation timestamps
                families.add(
                    name if kind != "counter" or name.endswith("_total") else f"{name}_total"
                )
    assert len(documented) >= 15
    assert families == documented
