"""Finding (e) and item 6's operator surface: what every answer carries, the right status for
the wrong method or media type, and /metrics, /readyz and the OpenAPI pages off the public
port when an internal one is configured."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.security.conftest import ApiProcess
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SAFE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _assert_safe(response: httpx.Response, *, strict_csp: bool = True) -> None:
    for name, value in SAFE.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    csp = response.headers.get("content-security-policy", "")
    if strict_csp:
        assert csp.startswith("default-src 'none'"), (response.url, csp)
        assert "frame-ancestors 'none'" in csp


async def test_every_kind_of_answer_carries_the_safe_headers(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as api:
        photo = await ingest(api, stack, "slot-001", jpeg_photo(960))
        assert photo.status_code == 200
        result = await api.get(photo.headers["x-result-url"])
        answers = [
            photo,
            result,
            await api.get("/healthz"),
            await api.get("/no/such/route"),
            await ingest(api, stack, "slot-001", jpeg_photo(961), password="wrong-password"),
            await api.get("/api/slots"),
        ]
    for answer in answers:
        _assert_safe(answer)
    assert result.headers["content-disposition"].startswith("attachment;")


async def test_public_media_downloads_as_an_attachment(stack: Stack) -> None:
    """What Turbotext downloads: bytes someone uploaded, never to be rendered by a browser."""
    from photochanger_runtime.media import open_media_store
    from photochanger_runtime.media.links import MediaLinks
    from pymongo import AsyncMongoClient

    key = f"templates/security-{uuid.uuid4().hex}"
    store = open_media_store(stack.env["PHOTOCHANGER_MEDIA_URL"])
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.infra.mongodb_uri)
    try:
        await store.put(key, jpeg_photo(962), content_type="image/jpeg")
        now = datetime.now(UTC)
        link = await MediaLinks(client[stack.env["PHOTOCHANGER_MONGODB_DATABASE"]]).create(
            key, mime_type="image/jpeg", expires_at=now + timedelta(minutes=1), job_id=None,
            now=now,
        )  # fmt: skip
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as api:
            media = await api.get(f"/public/media/{link.token}")
    finally:
        await store.delete(key)
        await store.aclose()
        await client.close()
    assert media.status_code == 200, media.text
    assert media.headers["content-disposition"] == 'attachment; filename="media.jpg"'
    _assert_safe(media)


async def test_a_wrong_method_is_405_with_allow_in_the_envelope(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        answer = await api.get("/ingest/slot-001")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    error = answer.json()["error"]
    assert error["code"] == "method_not_allowed" and error["details"]["allowed"] == ["POST"]


async def test_wrong_media_types_are_415_and_406(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        admin = await admin_headers(api, stack)
        not_json = await api.put(
            "/api/settings", content=b"sync_response_seconds=50",
            headers={**admin, "Content-Type": "text/plain", "If-Match": '"1"'},
        )  # fmt: skip
        not_multipart = await api.post(
            "/ingest/slot-001", content=b"<x/>", headers={"Content-Type": "application/xml"}
        )
        html_only = await api.get("/api/slots", headers={**admin, "Accept": "text/html"})
    assert not_json.status_code == 415 and not_json.json()["error"]["code"] == (
        "unsupported_media_type"
    )
    assert not_multipart.status_code == 415
    assert html_only.status_code == 406 and html_only.json()["error"]["code"] == "not_acceptable"


@pytest.fixture(scope="module")
async def internal(start_api: Any) -> ApiProcess:
    api: ApiProcess = await start_api(internal=True)
    return api


@pytest.mark.parametrize("path", ["/metrics", "/readyz", "/docs", "/openapi.json"])
async def test_the_operator_surface_is_off_the_public_port(internal: ApiProcess, path: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        public = await client.get(internal.url + path)
        private = await client.get(internal.internal_url + path)
        health = [await client.get(u + "/healthz") for u in (internal.url, internal.internal_url)]
    assert public.status_code == 404 and public.json()["error"]["code"] == "not_found"
    assert private.status_code == 200, private.text
    assert [h.status_code for h in health] == [200, 200]


async def test_booths_still_post_to_the_public_port(internal: ApiProcess) -> None:
    async with internal.client() as booth:
        answer = await ingest(booth, internal.platform, "slot-001", jpeg_photo(963))
    assert answer.status_code == 200, answer.text


async def test_the_openapi_page_gets_a_policy_that_lets_exactly_it_run(
    internal: ApiProcess,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(internal.internal_url + "/docs")
    _assert_safe(page, strict_csp=False)
    policy = dict(
        [*d.strip().split(" ", 1), ""][:2]
        for d in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    scripts = policy["script-src"].split()
    html = page.text
    for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', html):
        assert src in scripts, (src, scripts)
    for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in scripts
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    for href in re.findall(r'<link[^>]*stylesheet[^>]*href="([^"]+)"', html):
        assert href in policy["style-src"].split()
    assert policy["connect-src"] == "'self'"
