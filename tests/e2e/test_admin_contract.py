"""Schemathesis against the live api: generated requests to every admin operation must get
documented statuses, bodies that match the published schema, and never a 5xx.

Bounded (a few examples per operation) to keep the run under a minute. The token lacks
`settings:write` so that generated edits cannot rotate the ingest password or change the
deadline under the other tests; the settings routes are proven by test_admin_settings.

`positive_data_acceptance` is left out on purpose: a request can fit the schema and still be
refused by meaning (a stale If-Match is 412, an unknown provider or a forged cursor 422)."""

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

from tests.e2e.admin_session import ALL_PERMISSIONS, bearer, minted_token

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def contract_headers(stack: Stack) -> dict[str, str]:
    permissions = tuple(p for p in ALL_PERMISSIONS if p != "settings:write")
    return {
        **bearer(minted_token(stack, permissions, expires_in=600)),
        # its own client address, so generated logins cannot lock out the other tests
        "X-Forwarded-For": f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}",
    }


def test_admin_api_conforms_to_its_published_schema(
    stack: Stack, contract_headers: dict[str, str]
) -> None:
    published = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    loaded = schemathesis.openapi.from_dict(published).include(path_regex=r"^/api/(?!ingest)")
    failures: list[str] = []
    operations = 0
    for result in loaded.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=10,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def conforms(case: Any) -> None:
                case.call_and_validate(
                    base_url=stack.api_url,
                    headers=contract_headers,
                    timeout=60,
                    excluded_checks=[positive_data_acceptance],
                )

            try:
                conforms()
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} ({mode.value}): {exc}")

    assert operations >= 18
    assert not failures, "\n\n".join(failures)
