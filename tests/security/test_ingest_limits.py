"""Finding (a) and (b), one defence at a time: what an unauthenticated ingest request may cost
is decided before its body is read — upload slots per address and in total, a cap on the whole
body, a deadline for it, a per-address throttle on wrong passwords, a password sent first is
checked before the photo is stored, and a guess already refused costs no second argon2 run.

The api of this module has small limits so that each one is reached with a handful of
requests; its ingest password comes from a file (`PHOTOCHANGER_INGEST_PASSWORD_FILE`)."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore

from tests.security import multipart_bodies as mp
from tests.security.conftest import ApiProcess, raw_request, read_status
from tests.support.images import jpeg_photo
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PER_ADDRESS = 2
TOTAL = 4
FAILURES = 3


@pytest.fixture(scope="module")
async def limited(
    start_api: Any, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> ApiProcess:
    # the platform's password (the stored hash is shared), handed over as a mounted file
    secret = tmp_path_factory.mktemp("secret") / "ingest-password"
    secret.write_text(stack.ingest_password + "\n")
    api: ApiProcess = await start_api(
        PHOTOCHANGER_INGEST_PASSWORD=None,  # the file is the only source
        PHOTOCHANGER_INGEST_PASSWORD_FILE=str(secret),
        PHOTOCHANGER_MAX_CONCURRENT_UPLOADS=str(TOTAL),
        PHOTOCHANGER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS=str(PER_ADDRESS),
        PHOTOCHANGER_INGEST_MAX_FAILURES_PER_ADDRESS=str(FAILURES),
        PHOTOCHANGER_INGEST_BODY_SECONDS="60",
    )
    return api


def _head(body_length: int, *, slot: str = "slot-001") -> bytes:
    return (
        f"POST /ingest/{slot} HTTP/1.1\r\nHost: api\r\nContent-Type: {mp.CONTENT_TYPE}\r\n"
        f"Content-Length: {body_length}\r\n\r\n"
    ).encode()


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    """Uploads held open mid-body; closed (and so released by the api) at the end."""
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def _hold(api: ApiProcess, source: str) -> socket.socket:
    """An upload that sent its headers and the start of its photo (the password would come
    after it), then stalls."""
    start = mp.file_head() + b"\xff\xd8\xff" * 1000
    return raw_request(api.platform.ports["api"], _head(10 * 1024 * 1024) + start, source=source)


async def _until_in_flight(api: ApiProcess, count: int) -> None:
    async def reading() -> bool:
        return await api.metric("photochanger_ingest_uploads_in_flight") == count

    await eventually(reading, timeout=30, what=f"{count} uploads in flight")


async def _post(api: ApiProcess, source: str, password: str, photo: bytes = b"") -> Any:
    parts = mp.password_then_photo(password, photo or jpeg_photo(7))
    async with api.client(source=source) as client:
        return await client.post(
            "/ingest/slot-001", content=b"".join(parts), headers={"Content-Type": mp.CONTENT_TYPE}
        )


async def test_uploads_past_an_address_share_get_429_at_once(
    limited: ApiProcess, held: list[socket.socket]
) -> None:
    held += [_hold(limited, "127.0.0.21") for _ in range(PER_ADDRESS)]
    await _until_in_flight(limited, PER_ADDRESS)

    refused = await _post(limited, "127.0.0.21", limited.ingest_password)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "at_capacity"
    assert int(refused.headers["retry-after"]) >= 1
    other = await _post(limited, "127.0.0.22", limited.ingest_password)
    assert other.status_code == 200, other.text  # another client is not held up

    for sock in held:
        sock.close()
    await _until_in_flight(limited, 0)  # a client that goes away gives its slot back


async def test_uploads_past_the_total_get_503_at_once(
    limited: ApiProcess, held: list[socket.socket]
) -> None:
    held += [_hold(limited, f"127.0.0.{30 + n}") for n in range(TOTAL)]
    await _until_in_flight(limited, TOTAL)

    refused = await _post(limited, "127.0.0.39", limited.ingest_password)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert int(refused.headers["retry-after"]) >= 1

    for sock in held:
        sock.close()
    await _until_in_flight(limited, 0)


async def _payloads(api: ApiProcess) -> set[str]:
    from photochanger_runtime.media import open_media_store

    store: MediaStore = open_media_store(api.platform.env["PHOTOCHANGER_MEDIA_URL"])
    try:
        return {o.key async for o in store.list("payloads/")}
    finally:
        await store.aclose()


async def test_wrong_passwords_from_an_address_are_throttled_before_the_body_is_read(
    limited: ApiProcess,
) -> None:
    before = await limited.metric("photochanger_ingest_password_failures_total")
    for n in range(FAILURES):
        wrong = await _post(limited, "127.0.0.41", f"guess-number-{n}")
        assert wrong.status_code == 401, wrong.text
    assert await limited.metric("photochanger_ingest_password_failures_total") == before + FAILURES

    throttled = await _post(limited, "127.0.0.41", limited.ingest_password)  # even the right one
    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(throttled.headers["retry-after"]) <= 600
    # refused from the headers alone: a 20 MiB body that is never sent is not waited for
    sock = raw_request(limited.platform.ports["api"], _head(20 * 1024 * 1024), source="127.0.0.41")
    with sock:
        status, _ = await asyncio.to_thread(read_status, sock, 10)
    assert status == 429
    # other addresses are not affected
    assert (await _post(limited, "127.0.0.42", limited.ingest_password)).status_code == 200


async def test_a_wrong_password_sent_first_is_refused_before_the_photo_arrives(
    limited: ApiProcess,
) -> None:
    payloads = await _payloads(limited)
    start = mp.text_part("password", "wrong-but-first") + mp.file_head() + b"\xff\xd8\xff" * 1000
    sock = raw_request(limited.platform.ports["api"], _head(15 * 1024 * 1024) + start,
                       source="127.0.0.51")  # fmt: skip
    with sock:
        status, head = await asyncio.to_thread(read_status, sock, 10)
    assert status == 401, head
    # nothing of the photo was stored (earlier tests' payloads may be cleaned up meanwhile)
    assert await _payloads(limited) <= payloads


async def test_a_refused_guess_costs_no_second_argon2_check(limited: ApiProcess) -> None:
    sample = 'photochanger_password_verifications_total{purpose="ingest"}'
    before = await limited.metric(sample)
    guess = f"the-same-guess-{secrets.token_hex(4)}"
    # three at once (they share one check; fewer than the upload slots), then five more one
    # after the other, each from its own address
    answers = await asyncio.gather(*(_post(limited, f"127.0.0.{60 + n}", guess) for n in range(3)))
    answers += [await _post(limited, f"127.0.0.{70 + n}", guess) for n in range(5)]
    assert [a.status_code for a in answers] == [401] * 8
    assert await limited.metric(sample) == before + 1


async def test_a_body_past_the_request_cap_is_413(limited: ApiProcess, tmp_path: Path) -> None:
    declared = raw_request(limited.platform.ports["api"], _head(22 * 1024 * 1024),
                           source="127.0.0.81")  # fmt: skip
    with declared:
        status, _ = await asyncio.to_thread(read_status, declared, 10)
    assert status == 413  # declared too large: refused from the headers

    # streamed without a length: many small file parts, none over the photo limit
    extra = [mp.file_head(f"extra{n}", f"e{n}.bin") + b"\0" * (1024 * 1024) + b"\r\n"
             for n in range(24)]  # fmt: skip
    parts = [mp.text_part("password", limited.ingest_password), *extra, mp.END]
    async with limited.client(source="127.0.0.82") as client:
        response = await client.post(
            "/ingest/slot-001", content=mp.stream(parts), headers={"Content-Type": mp.CONTENT_TYPE}
        )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["details"]["max_bytes"] == 21 * 1024 * 1024


async def test_a_body_that_does_not_arrive_in_time_is_408(start_api: Any) -> None:
    api: ApiProcess = await start_api(PHOTOCHANGER_INGEST_BODY_SECONDS="1.5")
    start = mp.text_part("password", api.ingest_password) + mp.file_head() + b"\xff\xd8\xff"
    sock = raw_request(api.platform.ports["api"], _head(1024 * 1024) + start)
    with sock:
        status, head = await asyncio.to_thread(read_status, sock, 15)
    assert status == 408, head
    assert b"request_timeout" in head or status == 408
