"""Pure pieces of the hardened surface: client addresses behind proxies, the failure throttle,
result tokens, content negotiation."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from photochanger_api import result_links
from photochanger_api.client_address import ClientAddresses
from photochanger_api.errors import ApiError
from photochanger_api.http_surface import _acceptable
from photochanger_api.ingest_guard import FailureThrottle, UploadSlots
from photochanger_api.passwords import PasswordChecks
from photochanger_api.routes_public import look_up_riding_out_blips
from photochanger_runtime.media.links import InMemoryMediaLinks, PublicLink
from pymongo.errors import AutoReconnect, OperationFailure, PyMongoError
from starlette.requests import Request

PROXY = ipaddress.ip_network("10.0.0.0/8")


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a proxy: its header is ignored
        ("10.1.2.3", None, "10.1.2.3"),
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client wrote: ignored
        ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # two proxies
        ("10.1.2.3", "garbage, 10.9.9.9", "10.9.9.9"),
        ("10.1.2.3", "[2001:db8::1]:443", "2001:db8::/64"),  # an IPv6 client is its /64
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: str, forwarded: str | None, client: str
) -> None:
    assert ClientAddresses([PROXY]).of(_request(peer, forwarded)) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddresses([]).of(_request("127.0.0.1", "198.51.100.1")) == "127.0.0.1"


def test_the_throttle_opens_again_when_the_oldest_failure_leaves_the_window() -> None:
    now = [1000.0]
    throttle = FailureThrottle(limit=2, window_seconds=60, clock=lambda: now[0])
    throttle.record("a", b"guess 1")
    now[0] += 10
    throttle.record("a", b"guess 2")
    with pytest.raises(ApiError) as refused:
        throttle.check("a")
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": "50"}
    throttle.check("b")
    now[0] += 51
    throttle.check("a")


def test_the_same_wrong_password_again_counts_once() -> None:
    throttle = FailureThrottle(limit=2, window_seconds=60)
    for _ in range(50):
        throttle.record("venue", b"the misconfigured booth's password")
    throttle.check("venue")
    throttle.record("venue", b"another")
    with pytest.raises(ApiError):
        throttle.check("venue")


def test_an_address_that_authenticated_stays_served_until_the_hard_limit() -> None:
    throttle = FailureThrottle(limit=2, window_seconds=60, hard_limit=4)
    throttle.succeeded("venue")
    for guess in (b"1", b"2", b"3"):
        throttle.record("venue", guess)
    throttle.check("venue")  # its body is read: the known password may pass
    assert throttle.restricted("venue")
    throttle.record("venue", b"4")
    with pytest.raises(ApiError):
        throttle.check("venue")
    # an address that never authenticated is refused before its body at the limit
    throttle.record("elsewhere", b"1")
    throttle.record("elsewhere", b"2")
    with pytest.raises(ApiError):
        throttle.check("elsewhere")


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = FailureThrottle(limit=1, window_seconds=60, max_addresses=2)
    for address in ("a", "b", "c"):
        throttle.record(address)
    throttle.check("a")  # forgotten: the oldest
    with pytest.raises(ApiError):
        throttle.check("c")


def test_upload_slots_are_given_back() -> None:
    slots = UploadSlots(total=2, per_address=1)
    with slots.take("a"), pytest.raises(ApiError) as busy, slots.take("a"):
        pass
    assert busy.value.status_code == 429
    with slots.take("a"), slots.take("b"), pytest.raises(ApiError) as full, slots.take("c"):
        pass
    assert full.value.status_code == 503 and len(slots) == 0


def test_a_result_token_names_its_job_and_only_its_hash_is_kept() -> None:
    job_id = "8f5c046a-4cd0-4599-b8f9-efac7924e324"
    token = result_links.new_token(job_id)
    assert len(token) == 54 and job_id not in token
    assert result_links.job_id_of(token) == job_id
    assert result_links.matches(token, result_links.digest(token))
    assert not result_links.matches(result_links.new_token(job_id), result_links.digest(token))
    assert result_links.job_id_of(job_id) is None and result_links.is_bare_job_id(job_id)


@pytest.mark.parametrize(
    ("accept", "images", "ok"),
    [
        ("application/json", False, True),
        ("*/*", False, True),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False, True),
        ("text/html", False, False),
        ("application/json;q=0", False, False),
        ("image/png", True, True),
        ("image/png", False, False),
        ("application/problem+json", False, True),
    ],
)
def test_accept_headers(accept: str, images: bool, ok: bool) -> None:
    assert _acceptable(accept, images) is ok


async def test_a_cancelled_password_check_keeps_its_slot_until_argon2_is_done() -> None:
    checks = PasswordChecks(concurrent=1, waiting=0)
    stored = checks.hash("right")
    waiting = asyncio.ensure_future(checks.verify(stored, "wrong", purpose="test"))
    await asyncio.sleep(0)  # let it start its thread
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert checks._slots.locked()  # argon2 still runs: no second check may start beside it
    assert await checks.verify(stored, "right", purpose="test")  # waits its turn, then runs


class _LinksAway(InMemoryMediaLinks):
    """The database refuses the first `failures` lookups, then answers."""

    def __init__(self, failures: int, error: PyMongoError) -> None:
        super().__init__()
        self.failures, self.error, self.lookups = failures, error, 0

    async def get(self, token: str) -> PublicLink | None:
        self.lookups += 1
        if self.failures:
            self.failures -= 1
            raise self.error
        return await super().get(token)


async def _a_link(links: InMemoryMediaLinks) -> PublicLink:
    now = datetime.now(UTC)
    return await links.create(
        "payloads/x/y", mime_type="image/jpeg", expires_at=now + timedelta(hours=1),
        job_id="job-1", now=now,
    )  # fmt: skip


async def test_a_media_link_lookup_waits_out_a_database_blip() -> None:
    links = _LinksAway(failures=2, error=AutoReconnect("connection closed"))
    link = await _a_link(links)
    assert await look_up_riding_out_blips(links, link.token) == link
    assert links.lookups == 3


async def test_a_media_link_lookup_gives_up_after_its_patience() -> None:
    links = _LinksAway(failures=1000, error=AutoReconnect("connection closed"))
    link = await _a_link(links)
    with pytest.raises(AutoReconnect):
        await look_up_riding_out_blips(links, link.token, patience_seconds=0.5)
    assert 2 <= links.lookups <= 5  # 0.1 + 0.2 s of back-off fit in the patience, 0.4 does not


async def test_a_media_link_lookup_does_not_retry_a_database_refusal() -> None:
    links = _LinksAway(failures=1, error=OperationFailure("not authorized", code=13))
    link = await _a_link(links)
    with pytest.raises(OperationFailure):
        await look_up_riding_out_blips(links, link.token)
    assert links.lookups == 1
