"""An 8-character ingest password, as the photobooths of the system this replaces are set up:
the admin API takes it and a booth then uploads with it; 7 characters are refused with the
limit named, so a client (the console) can say why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


async def put_settings(
    api: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    etag = (await api.get("/api/settings", headers=admin)).headers["etag"]
    return await api.put("/api/settings", json=body, headers={**admin, "If-Match": etag})


@pytest.fixture
async def restore_password(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> AsyncIterator[None]:
    yield
    back = await put_settings(api, admin, {"ingest_password": stack.ingest_password})
    assert back.status_code == 200, back.text


async def test_an_eight_character_password_is_accepted_and_works_at_ingest(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, restore_password: None
) -> None:
    rotated = await put_settings(api, admin, {"ingest_password": "booth-08"})
    assert rotated.status_code == 200, rotated.text

    with_it = await ingest(api, stack, "slot-001", jpeg_photo(620), password="booth-08")
    with_the_old = await ingest(api, stack, "slot-001", jpeg_photo(621))

    assert with_it.status_code == 200, with_it.text
    assert with_the_old.status_code == 401


async def test_a_seven_character_password_is_refused_with_the_minimum_named(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    refused = await put_settings(api, admin, {"ingest_password": "booth07"})

    assert refused.status_code == 422
    [problem] = refused.json()["error"]["details"]["problems"]
    assert problem["field"] == "body.ingest_password"
    assert problem["type"] == "too_short" and problem["ctx"]["min_length"] == 8
    still = await ingest(api, stack, "slot-001", jpeg_photo(622))
    assert still.status_code == 200  # nothing changed
