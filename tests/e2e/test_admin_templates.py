"""Template media: upload (type by magic bytes, size limit), list, and deletion that active
slots prevent unless forced."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack
from photochanger_runtime.media import MediaStore

from tests.e2e.admin_session import admin_headers
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

STYLE_SLOT = "slot-010"


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


async def _register(
    api: httpx.AsyncClient, admin: dict[str, str], data: bytes, name: str = "style.png"
) -> httpx.Response:
    return await api.post(
        "/api/template-media/register",
        files={"file": (name, data, "application/octet-stream")},
        headers=admin,
    )


async def _use_in_slot(
    api: httpx.AsyncClient, admin: dict[str, str], media_id: str, *, active: bool
) -> httpx.Response:
    etag = (await api.get(f"/api/slots/{STYLE_SLOT}", headers=admin)).headers["etag"]
    return await api.put(
        f"/api/slots/{STYLE_SLOT}",
        json={
            "name": "Style transfer",
            "provider": "gemini",
            "operation": "style_transfer",
            "is_active": active,
            "settings": {
                "prompt": "paint the photo in this style",
                "template_media": [{"role": "style", "media_id": media_id}],
            },
        },
        headers={**admin, "If-Match": etag},
    )


async def test_upload_decides_the_type_by_its_bytes(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, db: Any, media: MediaStore
) -> None:
    photo = png_photo(130)

    response = await _register(api, admin, photo, name="looks-like.jpg")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mime_type"] == "image/png" and body["size_bytes"] == len(photo)
    assert body["filename"] == "looks-like.jpg" and body["created_by"] == stack.admin_username
    listed = (await api.get("/api/template-media", headers=admin)).json()["items"]
    assert body["id"] in [t["id"] for t in listed]
    record = await db.template_media.find_one({"_id": body["id"]})
    assert await media.read(record["key"]) == photo  # bytes in the media store


async def test_upload_that_is_not_an_image_is_415_and_leaves_nothing_stored(
    api: httpx.AsyncClient, admin: dict[str, str], media: MediaStore
) -> None:
    before = {o.key async for o in media.list("templates/")}
    response = await _register(api, admin, b"GIF89a not one of ours", name="x.png")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert {o.key async for o in media.list("templates/")} == before


async def test_upload_over_the_limit_is_413(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    too_big = jpeg_photo(131) + b"\0" * (20 * 1024 * 1024)

    response = await _register(api, admin, too_big, name="huge.jpg")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_upload_without_a_file_is_400(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    no_file = await api.post(
        "/api/template-media/register", files={"a": (None, b"b")}, headers=admin
    )
    not_multipart = await api.post("/api/template-media/register", json={}, headers=admin)

    assert no_file.status_code == 400 and not_multipart.status_code == 415


async def test_template_in_use_by_an_active_slot_is_409_unless_forced(
    api: httpx.AsyncClient, admin: dict[str, str], db: Any, media: MediaStore
) -> None:
    template = (await _register(api, admin, png_photo(132))).json()
    assert (await _use_in_slot(api, admin, template["id"], active=True)).status_code == 200
    try:
        listed = (await api.get("/api/template-media", headers=admin)).json()["items"]
        assert next(t for t in listed if t["id"] == template["id"])["used_by"] == [STYLE_SLOT]

        refused = await api.delete(f"/api/template-media/{template['id']}", headers=admin)

        assert refused.status_code == 409
        assert refused.json()["error"]["details"] == {"slots": [STYLE_SLOT]}
        key = (await db.template_media.find_one({"_id": template["id"]}))["key"]
        forced = await api.delete(f"/api/template-media/{template['id']}?force=true", headers=admin)
        assert forced.status_code == 204
        assert await media.stat(key) is None
        again = await api.delete(f"/api/template-media/{template['id']}", headers=admin)
        assert again.status_code == 404
    finally:
        spare = (await _register(api, admin, png_photo(133))).json()
        await _use_in_slot(api, admin, spare["id"], active=False)


async def test_template_of_an_inactive_slot_can_be_deleted(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    template = (await _register(api, admin, png_photo(134))).json()
    assert (await _use_in_slot(api, admin, template["id"], active=False)).status_code == 200

    response = await api.delete(f"/api/template-media/{template['id']}", headers=admin)

    assert response.status_code == 204
    names = [t["id"] for t in (await api.get("/api/template-media", headers=admin)).json()["items"]]
    assert template["id"] not in names


async def test_unknown_template_is_404(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await api.delete("/api/template-media/000000000000000000000000", headers=admin)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "media_not_found"
