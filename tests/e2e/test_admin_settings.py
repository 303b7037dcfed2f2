"""Platform settings through the admin API: validated, versioned, secrets write-only, and
applied to the next job without restarting anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from photochanger_devstack import topology
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers, platform_logs
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


async def _put(
    api: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    etag = (await api.get("/api/settings", headers=admin)).headers["etag"]
    return await api.put("/api/settings", json=body, headers={**admin, "If-Match": etag})


@pytest.fixture
async def restore_settings(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> AsyncIterator[None]:
    """Other tests rely on the stack's ingest password and the default deadline."""
    yield
    restored = await _put(
        api,
        admin,
        {
            "ingest_password": stack.ingest_password,
            "sync_response_seconds": 48,
            "result_ttl_hours": 72,
            "provider_keys": dict.fromkeys(topology.provider_ids()),
        },
    )
    assert restored.status_code == 200, restored.text


async def test_settings_show_status_but_never_secrets(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    response = await api.get("/api/settings", headers=admin)

    assert response.status_code == 200
    body = response.json()
    assert body["sync_response_seconds"] == 48
    assert body["derived"] == {
        "job_deadline_seconds": 48,
        "artifact_ttl_seconds": 48,
        "result_retention_hours": 72,
    }
    assert body["ingest_password"]["is_set"] is True
    assert set(body["ingest_password"]) == {"is_set", "updated_at", "updated_by"}
    gemini = body["provider_keys"]["gemini"]
    # the fleet's truth: every running gemini replica says it holds its key
    assert gemini["replicas"] >= 1 and gemini["replicas_with_key"] == gemini["replicas"]
    assert {k: v for k, v in gemini.items() if not k.startswith("replicas")} == {
        "configured": True,
        "source": "environment",
        "updated_at": None,
        "updated_by": None,
    }
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert stack.ingest_password not in response.text
    assert "$argon2" not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sync_response_seconds": 44}, "body.sync_response_seconds"),
        ({"sync_response_seconds": 61}, "body.sync_response_seconds"),
        ({"result_ttl_hours": 0}, "body.result_ttl_hours"),
        ({"ingest_password": "short"}, "body.ingest_password"),
        ({"provider_keys": {"dall-e": "k"}}, "provider_keys.dall-e"),
        ({"colour": "red"}, "body.colour"),
    ],
)
async def test_invalid_settings_are_422_and_change_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    before = await api.get("/api/settings", headers=admin)

    response = await _put(api, admin, body)

    assert response.status_code == 422, response.text
    assert [p["field"] for p in response.json()["error"]["details"]["problems"]] == [field]
    after = await api.get("/api/settings", headers=admin)
    assert after.json() == before.json()


async def test_stale_or_missing_if_match_is_refused(
    api: httpx.AsyncClient, admin: dict[str, str], restore_settings: None
) -> None:
    etag = (await api.get("/api/settings", headers=admin)).headers["etag"]
    first = await api.put(
        "/api/settings", json={"result_ttl_hours": 71}, headers={**admin, "If-Match": etag}
    )
    assert first.status_code == 200

    stale = await api.put(
        "/api/settings", json={"result_ttl_hours": 70}, headers={**admin, "If-Match": etag}
    )
    missing = await api.put("/api/settings", json={"result_ttl_hours": 70}, headers=admin)

    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "version_conflict"
    assert missing.status_code == 422
    assert (await api.get("/api/settings", headers=admin)).json()["result_ttl_hours"] == 71


async def test_concurrent_settings_edits_have_one_winner(
    api: httpx.AsyncClient, admin: dict[str, str], restore_settings: None
) -> None:
    etag = (await api.get("/api/settings", headers=admin)).headers["etag"]

    answers = await asyncio.gather(
        *(
            api.put(
                "/api/settings",
                json={"result_ttl_hours": 60 + n},
                headers={**admin, "If-Match": etag},
            )
            for n in range(5)
        )
    )

    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412, 412]
    winner = next(a for a in answers if a.status_code == 200).json()
    current = (await api.get("/api/settings", headers=admin)).json()
    assert current["result_ttl_hours"] == winner["result_ttl_hours"]


async def test_deadline_change_applies_to_the_next_job(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, db: Any, restore_settings: None
) -> None:
    changed = await _put(api, admin, {"sync_response_seconds": 55})
    assert changed.status_code == 200
    assert changed.json()["derived"]["job_deadline_seconds"] == 55

    response = await ingest(api, stack, "slot-001", jpeg_photo(120))

    assert response.status_code == 200
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    assert (job["expires_at"] - job["created_at"]).total_seconds() == 55


async def test_password_rotation_takes_effect_for_ingest_immediately(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, restore_settings: None
) -> None:
    warm = await ingest(api, stack, "slot-001", jpeg_photo(121))  # the old one is memoised
    assert warm.status_code == 200
    new_password = "rotated-password-2026"

    rotated = await _put(api, admin, {"ingest_password": new_password})

    assert rotated.status_code == 200
    status = rotated.json()["ingest_password"]
    assert status["is_set"] is True and status["updated_by"] == stack.admin_username
    assert new_password not in rotated.text
    old = await ingest(api, stack, "slot-001", jpeg_photo(122))
    assert old.status_code == 401
    new = await ingest(api, stack, "slot-001", jpeg_photo(123), password=new_password)
    assert new.status_code == 200
    assert new_password not in platform_logs(stack)


async def test_provider_keys_are_write_only(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, db: Any, restore_settings: None
) -> None:
    key = "sk-test-provider-key-0123456789"

    response = await _put(api, admin, {"provider_keys": {"turbotext": key}})

    assert response.status_code == 200
    state = response.json()["provider_keys"]["turbotext"]
    assert state["configured"] is True and state["source"] == "settings"
    assert state["updated_by"] == stack.admin_username
    for answer in (response, await api.get("/api/settings", headers=admin)):
        assert key not in answer.text
    assert key not in platform_logs(stack)
    stored = await db.settings.find_one({"_id": "platform"})
    assert stored["provider_keys"]["turbotext"]["value"] == key  # usable by the provider
    fences = [f async for f in db.settings_versions.find({})]
    assert all(key not in str(f) for f in fences)  # no copy left behind in the fences

    removed = await _put(api, admin, {"provider_keys": {"turbotext": None}})
    assert removed.json()["provider_keys"]["turbotext"]["source"] == "environment"


async def test_a_provider_key_set_through_the_api_reaches_new_jobs_without_restarts(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, restore_settings: None
) -> None:
    from tests.e2e.helpers import ingest
    from tests.support.images import jpeg_photo

    wrong = await _put(api, admin, {"provider_keys": {"gemini": "not-the-key"}})
    assert wrong.status_code == 200
    rejected = await ingest(api, stack, "slot-001", jpeg_photo(90))
    assert rejected.status_code == 502
    assert rejected.json()["error"]["details"]["provider_code"] == "provider_auth_failed"

    assert (
        await _put(api, admin, {"provider_keys": {"gemini": "emulator-key"}})
    ).status_code == 200
    assert (await ingest(api, stack, "slot-001", jpeg_photo(91))).status_code == 200
