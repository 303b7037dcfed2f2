"""Finding (d): server-side request forgery through the Turbotext result URL.

Before the fix the provider service fetched any http(s) URL a `get_result` answer named,
followed redirects anywhere, and echoed text from what it fetched into the booth's 502. Now
only https URLs on the allow-list that resolve to public addresses are fetched (the local
emulator's origin is an explicit exception), each redirect is checked before it is followed,
the address actually connected to is checked before the body is read, and the booth sees a
generic message with the provider code while the reason goes to the job's processing log."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest
from photochanger_contracts import ProviderError
from photochanger_devstack.stack import Stack
from photochanger_provider_turbotext import TurbotextAdapter
from photochanger_runtime.providers.catalog import ProviderConfig
from photochanger_runtime.providers.url_policy import is_public
from pydantic import SecretStr

from tests.e2e.helpers import ingest
from tests.security.conftest import canary_server
from tests.support.images import png_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SECRET = "root:x:0:0:root:/root:/bin/bash internal-secret"


async def test_a_result_url_pointing_at_loopback_is_not_fetched(stack: Stack, db: Any) -> None:
    body = b'{"error": "' + SECRET.encode() + b'"}'
    with canary_server(status=500, body=body) as canary:
        photo = png_photo(950, emulate=f"result-url={canary.url}/latest/meta-data/")
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=90) as api:
            response = await ingest(api, stack, "slot-002", photo, content_type="image/png")

        assert response.status_code == 502, response.text
        assert canary.connections == []  # the provider service never connected
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert error["message"] == "the provider failed to process the photo"
    assert error["details"]["provider_code"] == "provider_bad_response"
    assert SECRET not in response.text and canary.url not in response.text

    async def final() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await db.jobs.find_one({"_id": error["details"]["job_id"]})
        return found

    job = await eventually(final, what="the job's final record")
    reasons = [e.get("error_message") or "" for e in job["log"]]
    assert any("result URL refused" in r and "only https" in r for r in reasons), reasons


# -- the adapter against real servers on loopback ------------------------------------------


def _adapter(base_url: str, *, hosts: tuple[str, ...] = (), trusted: tuple[str, ...] = ()
             ) -> TurbotextAdapter:  # fmt: skip
    config = ProviderConfig(
        provider_id="turbotext", base_url=base_url, api_key=SecretStr("key"),
        result_hosts=hosts, trusted_local_origins=trusted,
    )  # fmt: skip
    return TurbotextAdapter(config, httpx.AsyncClient(follow_redirects=False))


async def test_a_redirect_from_an_allowed_origin_to_loopback_is_not_followed() -> None:
    with (
        canary_server(body=b"\x89PNG internal") as target,
        canary_server(status=302, headers={"Location": f"{target.url}/admin"}) as redirector,
    ):
        adapter = _adapter(redirector.url, trusted=(redirector.url,))
        with pytest.raises(ProviderError) as caught:
            await adapter._download("/result.png", timeout=10)
        assert redirector.requests == ["/result.png"]
        assert target.connections == []  # the redirect was refused before it was followed
    assert "only https" in caught.value.message


async def test_a_host_on_the_allow_list_that_resolves_to_loopback_is_not_fetched() -> None:
    with canary_server(body=b"\x89PNG internal") as target:
        port = target.url.rsplit(":", 1)[1]
        adapter = _adapter("https://www.turbotext.test", hosts=("localhost",))
        with pytest.raises(ProviderError) as caught:
            await adapter._download(f"https://localhost:{port}/r.png", timeout=10)
        assert target.connections == []  # refused after resolving, before connecting
    assert "non-public address" in caught.value.message


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",
        "2002:a00:1::1",
        "::ffff:10.0.0.1",
    ],
)
def test_translated_addresses_of_private_networks_are_not_public(address: str) -> None:
    """Issue 20, finding 11: NAT64 (`64:ff9b::/96`: the translator turns it into the IPv4
    address inside, here loopback and the metadata endpoint) passed as public."""
    assert not is_public(ipaddress.ip_address(address))
    assert is_public(ipaddress.ip_address("2606:4700:4700::1111"))
