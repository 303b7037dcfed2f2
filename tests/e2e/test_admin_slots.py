"""Slots through the admin API: read, edit with optimistic concurrency, validation, recent
results, statistics reset and test runs through the real pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from photochanger_devstack import topology
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import admin_headers
from tests.e2e.helpers import ingest
from tests.support.images import jpeg_photo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# slots no other end-to-end test uses; each test leaves them inactive
EDITED = "slot-007"
CONTESTED = "slot-008"


@pytest.fixture
async def admin(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return await admin_headers(api, stack)


def _edit(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Turbotext test slot",
        "provider": "turbotext",
        "operation": "image_edit",
        "is_active": False,
        "settings": {"prompt": "watercolour", "strength": 30},
    }
    body.update(overrides)
    return body


async def test_providers_list_operations_and_their_settings_schema(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await api.get("/api/providers", headers=admin)

    assert response.status_code == 200
    providers = {p["id"]: p for p in response.json()["items"]}
    assert set(providers) == set(topology.provider_ids())
    for provider in providers.values():  # every provider shows its settings model
        for operation in provider["operations"]:
            assert operation["settings_schema"]["properties"]["prompt"], provider["id"]
    turbotext = {o["operation"]: o for o in providers["turbotext"]["operations"]}
    assert set(turbotext) == {"image_edit", "style_transfer", "identity_transfer"}
    schema = turbotext["image_edit"]["settings_schema"]
    assert schema["properties"]["strength"]["maximum"] == 80
    assert turbotext["style_transfer"]["required_template_roles"] == ["style"]
    assert providers["gemini"]["configured"] is True
    assert providers["gemini"]["replicas_with_key"] == providers["gemini"]["replicas"] >= 1


async def test_slot_list_has_the_15_static_slots(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await api.get("/api/slots", headers=admin)

    assert response.status_code == 200
    ids = [s["id"] for s in response.json()["items"]]
    assert ids == [f"slot-{n:03d}" for n in range(1, 16)]


async def test_unknown_slot_is_404(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/api/slots/slot-016"),
        ("POST", "/api/slots/nope/reset_stats"),
        ("GET", "/api/stats/slot-000"),
    ):
        response = await api.request(method, path, headers=admin)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "slot_not_found"
    put = await api.put("/api/slots/slot-016", json=_edit(), headers={**admin, "If-Match": '"1"'})
    assert put.status_code == 404


async def test_edit_with_the_current_etag_bumps_the_version_and_applies(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    current = await api.get(f"/api/slots/{EDITED}", headers=admin)
    etag = current.headers["etag"]

    response = await api.put(
        f"/api/slots/{EDITED}",
        json=_edit(settings={"prompt": "pencil sketch", "strength": "55"}),
        headers={**admin, "If-Match": etag},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == current.json()["version"] + 1
    assert response.headers["etag"] == f'"{body["version"]}"'
    assert body["settings"] == {"prompt": "pencil sketch", "strength": 55}  # normalised
    assert body["updated_by"] == stack.admin_username
    again = await api.get(f"/api/slots/{EDITED}", headers=admin)
    assert again.json()["settings"]["prompt"] == "pencil sketch"
    assert again.headers["etag"] == response.headers["etag"]


async def test_edit_with_a_stale_etag_is_412(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    etag = (await api.get(f"/api/slots/{EDITED}", headers=admin)).headers["etag"]
    first = await api.put(f"/api/slots/{EDITED}", json=_edit(), headers={**admin, "If-Match": etag})
    assert first.status_code == 200

    stale = await api.put(
        f"/api/slots/{EDITED}", json=_edit(name="late"), headers={**admin, "If-Match": etag}
    )

    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "version_conflict"
    assert stale.headers["etag"] == first.headers["etag"]
    assert (await api.get(f"/api/slots/{EDITED}", headers=admin)).json()["name"] != "late"


async def test_concurrent_edits_of_one_version_have_exactly_one_winner(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for _round in range(3):
        current = await api.get(f"/api/slots/{CONTESTED}", headers=admin)
        etag, version = current.headers["etag"], current.json()["version"]
        answers = await asyncio.gather(
            *(
                api.put(
                    f"/api/slots/{CONTESTED}",
                    json=_edit(name=f"editor {n}"),
                    headers={**admin, "If-Match": etag},
                )
                for n in range(6)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [412] * 5, statuses
        winner = next(a for a in answers if a.status_code == 200).json()
        final = (await api.get(f"/api/slots/{CONTESTED}", headers=admin)).json()
        assert final["version"] == version + 1
        assert final["name"] == winner["name"]


async def test_edit_without_if_match_is_422(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await api.put(f"/api/slots/{EDITED}", json=_edit(), headers=admin)

    assert response.status_code == 422
    fields = [p["field"] for p in response.json()["error"]["details"]["problems"]]
    assert "header.if-match" in fields


@pytest.mark.parametrize(
    ("edit", "fields"),
    [
        (_edit(settings={"prompt": "x", "strength": 99}), ["settings.strength"]),
        (_edit(settings={"prompt": "", "strength": 10}), ["settings.prompt"]),
        (_edit(settings={"prompt": "x", "colour": "red"}), ["settings.colour"]),
        (_edit(provider="dall-e"), ["provider"]),
        (_edit(operation="style_transfer"), ["settings.template_media"]),
        (
            _edit(
                settings={
                    "prompt": "x",
                    "template_media": [{"role": "style", "media_id": "does-not-exist"}],
                }
            ),
            ["settings.template_media"],
        ),
        (
            _edit(
                provider="gemini", settings={"prompt": "x", "image_config": {"image_size": "4K"}}
            ),
            ["settings"],
        ),
    ],
    ids=[
        "out-of-range",
        "missing-prompt",
        "unknown-option",
        "unknown-provider",
        "missing-template",
        "unknown-template",
        "model-constraint",
    ],
)
async def test_invalid_edits_are_422_with_the_fields_at_fault(
    api: httpx.AsyncClient, admin: dict[str, str], edit: dict[str, Any], fields: list[str]
) -> None:
    etag = (await api.get(f"/api/slots/{EDITED}", headers=admin)).headers["etag"]

    response = await api.put(f"/api/slots/{EDITED}", json=edit, headers={**admin, "If-Match": etag})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [p["field"] for p in error["details"]["problems"]] == fields
    unchanged = await api.get(f"/api/slots/{EDITED}", headers=admin)
    assert unchanged.headers["etag"] == etag


async def test_new_settings_apply_to_the_next_job_without_restart(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack, db: Any
) -> None:
    etag = (await api.get(f"/api/slots/{EDITED}", headers=admin)).headers["etag"]
    edit = _edit(provider="gemini", is_active=True, settings={"prompt": "make it blue"})
    updated = await api.put(f"/api/slots/{EDITED}", json=edit, headers={**admin, "If-Match": etag})
    assert updated.status_code == 200
    try:
        response = await ingest(api, stack, EDITED, jpeg_photo(70))
        assert response.status_code == 200
        job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
        assert job["settings"]["prompt"] == "make it blue"
        assert job["slot_version"] == updated.json()["version"]

        view = (await api.get(f"/api/slots/{EDITED}", headers=admin)).json()
        recent = view["recent_results"][0]
        assert recent["job_id"] == job["_id"]
        assert recent["mime_type"] == "image/png" and recent["expired"] is False
        assert recent["download_url"].endswith(f"/api/jobs/{job['_id']}/result")
        assert recent["completed_at"] and recent["result_expires_at"]
        download = await api.get(recent["download_url"], headers=admin)
        assert download.content == response.content
        assert (await api.get(recent["download_url"])).status_code == 401
    finally:
        etag = (await api.get(f"/api/slots/{EDITED}", headers=admin)).headers["etag"]
        await api.put(f"/api/slots/{EDITED}", json=_edit(), headers={**admin, "If-Match": etag})


async def test_recent_results_are_the_last_ten_successes(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    answers = await asyncio.gather(
        *(ingest(api, stack, "slot-001", jpeg_photo(80 + n)) for n in range(11))
    )
    assert all(a.status_code == 200 for a in answers)

    view = (await api.get("/api/slots/slot-001", headers=admin)).json()

    recent = view["recent_results"]
    assert len(recent) == 10
    completed = [r["completed_at"] for r in recent]
    assert completed == sorted(completed, reverse=True)
    # the eleven just made are the newest successes of the slot
    assert {r["job_id"] for r in recent} < {a.headers["x-job-id"] for a in answers}


async def test_test_run_answers_like_ingest_through_the_pipeline(
    api: httpx.AsyncClient, admin: dict[str, str], db: Any, stack: Stack
) -> None:
    photo = jpeg_photo(90)

    response = await api.post(
        "/api/slots/slot-001/test-run",
        files={"file": ("me.jpg", photo, "image/jpeg")},
        headers=admin,
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    job = await db.jobs.find_one({"_id": response.headers["x-job-id"]})
    assert job["outcome"] == "succeeded"
    assert job["metadata"] == {"test_run": "true", "requested_by": stack.admin_username}


async def test_test_run_rejects_what_ingest_rejects(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    not_an_image = await api.post(
        "/api/slots/slot-001/test-run",
        files={"file": ("me.jpg", b"plain text, not a photo", "image/jpeg")},
        headers=admin,
    )
    assert not_an_image.status_code == 415
    not_multipart = await api.post("/api/slots/slot-001/test-run", data={"x": "1"}, headers=admin)
    assert not_multipart.status_code == 415
    no_file = await api.post(
        "/api/slots/slot-001/test-run", files={"x": (None, b"1")}, headers=admin
    )
    assert no_file.status_code == 400
    inactive = await api.post(
        "/api/slots/slot-015/test-run",
        files={"file": ("me.jpg", jpeg_photo(91), "image/jpeg")},
        headers=admin,
    )
    assert inactive.status_code == 409
    unknown = await api.post(
        "/api/slots/slot-099/test-run",
        files={"file": ("me.jpg", jpeg_photo(92), "image/jpeg")},
        headers=admin,
    )
    assert unknown.status_code == 404


async def test_reset_stats_restarts_the_slot_counts(
    api: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    assert (await ingest(api, stack, "slot-001", jpeg_photo(93))).status_code == 200
    before = (await api.get("/api/stats/slot-001?window=1h", headers=admin)).json()
    assert before["windows"][0]["total"] >= 1

    reset = await api.post("/api/slots/slot-001/reset_stats", headers=admin)

    assert reset.status_code == 200
    after = (await api.get("/api/stats/slot-001?window=1h", headers=admin)).json()
    assert after["reset_at"] == reset.json()["reset_at"]
    assert after["windows"][0]["total"] == 0
    assert (await ingest(api, stack, "slot-001", jpeg_photo(94))).status_code == 200
    counted = (await api.get("/api/stats/slot-001?window=1h", headers=admin)).json()
    assert counted["windows"][0]["by_outcome"]["succeeded"] == 1


async def test_an_edit_whose_writer_died_after_winning_is_completed_by_the_next_editor(
    api: httpx.AsyncClient, admin: dict[str, str], db: Any
) -> None:
    slot_id = "slot-009"
    current = await api.get(f"/api/slots/{slot_id}", headers=admin)
    version = current.json()["version"]
    # the winner of `version → version+1` inserted its fence, then died before writing
    await db.slot_versions.insert_one(
        {
            "_id": f"{slot_id}/v{version + 1}",
            "doc_id": slot_id,
            "set": [
                {"path": "name", "value": "written by the dead editor"},
                {"path": "version", "value": version + 1},
            ],
        }
    )

    late = await api.put(
        f"/api/slots/{slot_id}",
        json=_edit(name="second editor"),
        headers={**admin, "If-Match": current.headers["etag"]},
    )

    assert late.status_code == 412
    repaired = await api.get(f"/api/slots/{slot_id}", headers=admin)
    assert repaired.json()["name"] == "written by the dead editor"
    assert repaired.headers["etag"] == f'"{version + 1}"' == late.headers["etag"]
    retried = await api.put(
        f"/api/slots/{slot_id}",
        json=_edit(name="second editor"),
        headers={**admin, "If-Match": repaired.headers["etag"]},
    )
    assert retried.status_code == 200 and retried.json()["name"] == "second editor"
