"""Image bytes live in the media store only: after jobs through every provider and a template
upload, no document in any collection holds binary data (or base64 text) of any size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bson import Binary
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo, png_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

_LIMIT = 1024
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{8192,}")


def _blobs(value: Any, path: str) -> Iterator[tuple[str, int]]:
    """(path, size) of every bytes value over the limit, and every long base64-looking run."""
    binary = isinstance(value, bytes | Binary) and len(value) > _LIMIT
    if binary or (isinstance(value, str) and _BASE64_RUN.search(value)):
        yield path, len(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _blobs(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _blobs(item, f"{path}[{index}]")


async def test_no_collection_holds_image_bytes(
    api: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    gemini = await ingest(api, stack, "slot-001", jpeg_photo(70, size=(640, 480)))
    turbotext = await ingest(api, stack, "slot-002", jpeg_photo(71, size=(640, 480)))
    template = await api.post(
        "/api/template-media/register",
        files={"file": ("t.png", png_photo(72), "image/png")},
        headers=await admin_headers(api, stack),
    )
    assert (gemini.status_code, turbotext.status_code, template.status_code) == (200, 200, 201)
    assert len(gemini.content) > _LIMIT and len(turbotext.content) > _LIMIT

    found: list[tuple[str, str, int]] = []
    names = await db.list_collection_names()
    assert {"jobs", "processing_logs", "template_media", "media_links"} <= set(names)
    for name in names:
        async for doc in db[name].find({}):
            found.extend((name, path, size) for path, size in _blobs(doc, str(doc.get("_id"))))

    assert found == []
