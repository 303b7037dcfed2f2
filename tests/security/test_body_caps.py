"""Bodies before authentication (issue 20): every route caps its body before anyone knows
who sent it, and admin routes check the token before reading a byte.

Before: FastAPI read and parsed a JSON body before any dependency ran, and no admin JSON route
capped it — one anonymous 150 MB `POST /api/login` took the api from 89 to 478 MB; admin
uploads (template images, test-run photos) had no cap on the whole body and no deadline; and
the console's asset lookup remembered every name it was asked for, valid or not."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.security import body_attacks
from tests.security.conftest import ApiProcess
from tests.security.memory import rss_mb

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(240)]

MB = 1024 * 1024
JSON_CAP = 64 * 1024
JSON_SECONDS = 2
UPLOAD_SECONDS = 3
UPLOAD_BYTES = 1 * MB
OVERHEAD = 64 * 1024

#: the admin JSON routes that take a body, as the review named them
JSON_ROUTES = [
    ("POST", "/api/login"),
    ("PUT", "/api/settings"),
    ("PUT", "/api/slots/slot-001"),
    ("POST", f"/api/jobs/{'0' * 8}-0000-4000-8000-{'0' * 12}/share"),
]


@pytest.fixture(scope="module")
async def api(start_api: Any) -> ApiProcess:
    api: ApiProcess = await start_api(
        PHOTOCHANGER_JSON_BODY_SECONDS=str(JSON_SECONDS),
        PHOTOCHANGER_INGEST_BODY_SECONDS=str(UPLOAD_SECONDS),
        PHOTOCHANGER_MAX_UPLOAD_BYTES=str(UPLOAD_BYTES),
        PHOTOCHANGER_MAX_TEMPLATE_BYTES=str(UPLOAD_BYTES),
        PHOTOCHANGER_MAX_REQUEST_OVERHEAD_BYTES=str(OVERHEAD),
    )
    return api


@pytest.fixture(scope="module")
async def token(api: ApiProcess) -> dict[str, str]:
    async with api.client() as client:
        return await admin_headers(client, api.platform)


def _port(api: ApiProcess) -> int:
    return int(api.url.rsplit(":", 1)[1])


def _error(answer: body_attacks.Answer) -> dict[str, Any]:
    body = answer.head.split(b"\r\n\r\n", 1)[1]
    return json.loads(body)["error"] if body.startswith(b"{") else {}


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_an_anonymous_150_mb_json_body_is_refused_before_it_is_read(
    api: ApiProcess, method: str, path: str, record_property: Any
) -> None:
    before = rss_mb(api.pid)
    answer = await asyncio.to_thread(
        body_attacks.send_body, _port(api), method, path, total=150 * MB
    )
    growth = rss_mb(api.pid) - before
    record_property("seconds", round(answer.seconds, 3))
    record_property("rss_growth_mb", round(growth, 1))
    assert answer.status == 413, answer.head[:300]
    assert _error(answer)["details"] == {"max_bytes": JSON_CAP}
    # the declared length decided: hardly anything of the body was taken in
    assert answer.sent < 16 * MB
    assert growth < 30, f"api RSS grew by {growth:.1f} MB"


async def test_a_streamed_body_is_cut_at_the_cap_without_a_declared_length(
    api: ApiProcess, token: dict[str, str]
) -> None:
    before = rss_mb(api.pid)
    # the login takes no token: its body is read, up to the cap
    login = await asyncio.to_thread(
        body_attacks.send_body, _port(api), "POST", "/api/login", total=150 * MB, chunked=True
    )
    assert login.status == 413, login.head[:300]
    # an admin route with a token: read, up to the cap
    settings = await asyncio.to_thread(
        body_attacks.send_body, _port(api), "PUT", "/api/settings", total=150 * MB,
        chunked=True, headers=token,
    )  # fmt: skip
    assert settings.status == 413, settings.head[:300]
    assert login.sent < 16 * MB and settings.sent < 16 * MB
    assert rss_mb(api.pid) - before < 30


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES[1:])
async def test_an_admin_route_checks_the_token_before_reading_the_body(
    api: ApiProcess, method: str, path: str
) -> None:
    """The body is declared and never sent: only an answer that does not wait for it can
    come back before the body deadline (which would be a 408)."""
    anonymous = await asyncio.to_thread(
        body_attacks.stall_body, _port(api), method, path, declared=1000, send=b"{",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert anonymous.status == 401, anonymous.head[:300]
    assert _error(anonymous)["code"] == "unauthorized"
    forged = await asyncio.to_thread(
        body_attacks.stall_body, _port(api), method, path, declared=1000, send=b"{",
        headers={"Content-Type": "application/json", "Authorization": "Bearer not.a.token"},
    )  # fmt: skip
    assert forged.status == 401, forged.head[:300]


async def test_a_json_body_that_does_not_arrive_in_time_is_408(
    api: ApiProcess, token: dict[str, str]
) -> None:
    answer = await asyncio.to_thread(
        body_attacks.stall_body, _port(api), "PUT", "/api/settings", declared=1000, send=b"{",
        headers={"Content-Type": "application/json", **token}, timeout=JSON_SECONDS + 20,
    )  # fmt: skip
    assert answer.status == 408, answer.head[:300]
    assert _error(answer)["code"] == "request_timeout"


@pytest.mark.parametrize("path", ["/api/template-media/register", "/api/slots/slot-001/test-runs",
                                  "/api/slots/slot-001/test-run"])  # fmt: skip
async def test_admin_uploads_are_capped_and_time_limited(
    api: ApiProcess, token: dict[str, str], path: str
) -> None:
    multipart = {"Content-Type": "multipart/form-data; boundary=x", **token}
    photo_part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    declared = await asyncio.to_thread(
        body_attacks.send_body, _port(api), "POST", path, total=50 * MB, headers=multipart
    )
    assert declared.status == 413, declared.head[:300]
    streamed = await asyncio.to_thread(
        body_attacks.send_body, _port(api), "POST", path, total=50 * MB, headers=multipart,
        chunked=True, prefix=photo_part,
    )  # fmt: skip
    assert streamed.status == 413, streamed.head[:300]
    assert streamed.sent < UPLOAD_BYTES + OVERHEAD + 16 * MB
    stalled = await asyncio.to_thread(
        body_attacks.stall_body, _port(api), "POST", path, declared=UPLOAD_BYTES,
        send=photo_part, headers=multipart, timeout=UPLOAD_SECONDS + 20,
    )  # fmt: skip
    assert stalled.status == 408, stalled.head[:300]


async def test_a_normal_admin_request_still_works(api: ApiProcess, token: dict[str, str]) -> None:
    async with api.client() as client:
        got = await client.get("/api/settings", headers=token)
        assert got.status_code == 200, got.text
        # a body just under the cap is read and validated as before
        padded = {"name": "x" * (JSON_CAP - 200)}
        put = await client.put("/api/slots/slot-001", json=padded, headers=token)
        assert put.status_code == 422, put.text


async def test_asking_for_many_unknown_console_files_keeps_nothing(
    api: ApiProcess, record_property: Any
) -> None:
    """Every answer is a 404 and the process does not remember the names it was asked for
    (before: 6,000 such requests took 47 MB that never came back)."""
    async with api.client(limits=httpx.Limits(max_connections=8)) as client:
        await client.get("/admin/assets/app.js")  # warm: the real file is cached
        before = rss_mb(api.pid)

        async def ask(n: int) -> int:
            name = secrets.token_hex(4) + "a" * 8192 + f"{n}.js"
            return (await client.get(f"/admin/assets/{name}")).status_code

        for batch in range(10):
            statuses = await asyncio.gather(*(ask(batch * 500 + n) for n in range(500)))
            assert set(statuses) == {404}
    growth = rss_mb(api.pid) - before
    record_property("rss_growth_mb", round(growth, 1))
    assert growth < 10, f"api RSS grew by {growth:.1f} MB after 5,000 unknown asset names"


async def test_the_console_still_serves_its_files(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url) as client:
        page = await client.get("/admin/assets/app.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/javascript")


async def test_the_client_jobs_upload_keeps_its_own_photo_limit(api: ApiProcess) -> None:
    """`POST /v1/jobs` streams a photo like `/ingest` (its cap: the photo limit): a body past
    the JSON cap reaches the route, which asks for a client key."""
    answer = await asyncio.to_thread(
        body_attacks.stall_body, _port(api), "POST", "/v1/jobs", declared=JSON_CAP * 4,
        send=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"},
    )  # fmt: skip
    assert answer.status == 401, answer.head[:300]
