"""The database cost of a job, counted by every service's command listener
(`photochanger_db_commands_total`), on a platform run with its production defaults: a
successful job costs four commands, each addressed by `_id` — the live record, the claim, the
final record (with the whole processing log), the live record's removal — and no more than
six with configuration reads (ADR-0012)."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.stack import SERVICES, Stack, create_stack

from tests.e2e.helpers import ingest
from tests.e2e.platforms import own_broker
from tests.support.images import jpeg_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

_SAMPLE = re.compile(
    r'^photochanger_db_commands_total\{collection="([^"]*)",command="([^"]*)",'
    r'origin="request"\} ([0-9.e+]+)$',
    re.M,
)
#: what a successful job writes, each once
JOB_COMMANDS = Counter(
    {("insert", "jobs_live"): 1, ("insert", "job_claims"): 1, ("insert", "jobs"): 1,
     ("delete", "jobs_live"): 1}
)  # fmt: skip
CONFIGURATION = {"settings", "slots", "template_media"}


@pytest.fixture(scope="module")
def production(infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The platform with no test settings at all: caches and intervals as shipped."""
    state = tmp_path_factory.mktemp("production")
    with own_broker(infra, state) as own:
        platform = create_stack(
            own,
            state,
            ports={},
            database=f"budget_{uuid.uuid4().hex[:8]}",
            environ={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        )
        try:
            platform.start_all()
            yield platform
        finally:
            platform.stop_all()


async def _commands(stack: Stack) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            text = (await client.get(f"{stack.url(service)}/metrics")).text
            for collection, command, value in _SAMPLE.findall(text):
                counts[(command, collection)] += int(float(value))
    return counts


async def test_a_successful_job_costs_four_database_commands(production: Stack, db: Any) -> None:
    database = db.client[production.env["PHOTOCHANGER_MONGODB_DATABASE"]]
    async with httpx.AsyncClient(base_url=production.api_url, timeout=60) as api:
        for seed in (1, 2):  # warm: configuration read, consumer groups joined
            warm = await ingest(api, production, "slot-001", jpeg_photo(seed))
            assert warm.status_code == 200, warm.text
        before = await _commands(production)
        response = await ingest(api, production, "slot-001", jpeg_photo(3))
        assert response.status_code == 200
        job_id = response.headers["x-job-id"]

        async def tidied() -> bool:  # the provider retires the live record after answering
            return await database.jobs_live.find_one({"_id": job_id}) is None

        await eventually(tidied, what="the live record to be retired")
        spent = await _commands(production) - before

    job_commands = Counter({k: n for k, n in spent.items() if k[1] not in CONFIGURATION})
    assert job_commands == JOB_COMMANDS, spent
    assert sum(spent.values()) <= 6, spent
