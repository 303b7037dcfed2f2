"""Who a per-address limit is about (issue 20, findings 2 and 3, the venue lock-out).

2. An IPv6 subscriber picks any address of its /64: limits key on the /64, not the address.
3. Only a trusted proxy names the client; a name it gives cannot lock a venue out: the right
   password from a throttled address that authenticated lately still gets 200.
Venue: one misconfigured booth repeating its wrong password does not throttle the booths that
share its NAT (the same wrong password counts once); new guesses are still throttled.

The api of this module trusts 127.0.0.1 as its proxy, so each request names its client with
`X-Forwarded-For` (IPv6 clients without IPv6 on the test machine)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.helpers import ingest
from tests.security.conftest import ApiProcess
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

FAILURES = 3


@pytest.fixture(scope="module")
async def api(start_api: Any) -> ApiProcess:
    api: ApiProcess = await start_api(
        PHOTOCHANGER_TRUSTED_PROXIES="127.0.0.1/32",
        PHOTOCHANGER_INGEST_MAX_FAILURES_PER_ADDRESS=str(FAILURES),
    )
    return api


async def _post(api: ApiProcess, client: str, password: str, seed: int = 0) -> int:
    async with api.client(headers={"X-Forwarded-For": client}) as http:
        answer = await ingest(http, api.platform, "slot-001", jpeg_photo(seed), password=password)
    return answer.status_code


async def test_addresses_of_one_ipv6_64_share_one_budget(api: ApiProcess) -> None:
    for n in range(FAILURES):
        assert await _post(api, f"2001:db8:20:1::{n + 1:x}", f"guess-{n}-wrong-password") == 401
    # another address of the same /64: the same subscriber
    assert await _post(api, "2001:db8:20:1:ffff::9", "guess-x-wrong-password") == 429
    # the next /64 is someone else
    assert await _post(api, "2001:db8:20:2::1", "guess-y-wrong-password") == 401


async def test_a_booth_repeating_its_wrong_password_does_not_lock_out_its_venue(
    api: ApiProcess,
) -> None:
    venue = "198.51.100.20"
    for n in range(FAILURES * 3):
        assert await _post(api, venue, "the-old-password-of-booth-7", seed=n) == 401
    assert await _post(api, venue, api.ingest_password, seed=99) == 200


async def test_the_right_password_passes_from_an_address_throttled_for_guesses(
    api: ApiProcess,
) -> None:
    venue = "198.51.100.21"
    assert await _post(api, venue, api.ingest_password, seed=1) == 200  # booths at work
    for n in range(FAILURES):  # someone behind the same NAT guesses
        assert await _post(api, venue, f"guess-{n}-at-the-venue", seed=n) == 401
    # guessing stays throttled, the booth's password still works
    assert await _post(api, venue, "guess-next-at-the-venue") == 429
    assert await _post(api, venue, api.ingest_password, seed=2) == 200
    assert await _post(api, venue, "guess-after-at-the-venue") == 429
    # an address that never authenticated is refused outright at the limit
    stranger = "203.0.113.21"
    for n in range(FAILURES):
        assert await _post(api, stranger, f"guess-{n}-from-outside") == 401
    assert await _post(api, stranger, api.ingest_password) == 429


async def test_forwarded_for_from_an_untrusted_peer_names_nobody(api: ApiProcess) -> None:
    """Failures pinned on a venue's address through a header from an untrusted peer land on
    the peer: 127.0.0.7 is not the trusted proxy."""
    venue = "198.51.100.22"
    async with api.client(source="127.0.0.7", headers={"X-Forwarded-For": venue}) as http:
        for n in range(FAILURES):
            answer = await ingest(http, api.platform, "slot-001", jpeg_photo(n), password=f"g{n}")
            assert answer.status_code == 401
        last = await ingest(http, api.platform, "slot-001", jpeg_photo(9), password="g9")
        assert last.status_code == 429
    assert await _post(api, venue, api.ingest_password) == 200
