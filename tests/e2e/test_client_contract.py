"""Schemathesis against the live api for the booth and client surfaces (`/ingest/{slot_id}`
and `/v1`): generated requests get documented statuses, bodies that match the published
schema (errors in the one envelope), and never a 5xx. A few examples per operation keep the
run well under a minute; the client key is a real one, so `/v1` is exercised past its
authentication."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from photochanger_devstack.stack import Stack
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.client_api import make_key

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_ingest_and_v1_conform_to_the_published_schema(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    key = await make_key(api, stack, rate=10_000)
    headers = {
        "Authorization": f"Bearer {key['key']}",
        # a client address of its own: generated wrong passwords throttle only this one
        "X-Forwarded-For": f"198.19.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}",
    }
    published = (await api.get("/openapi.json")).json()
    loaded = schemathesis.openapi.from_dict(published).include(path_regex=r"^/(ingest|v1)/")
    failures: list[str] = []
    operations = 0
    for result in loaded.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=8,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def conforms(case: Any) -> None:
                case.call_and_validate(
                    base_url=stack.api_url,
                    headers=headers,
                    timeout=60,
                    excluded_checks=[positive_data_acceptance],
                )

            try:
                conforms()
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} ({mode.value}): {exc}")

    assert operations >= 6
    assert not failures, "\n\n".join(failures)
