"""Slot settings validation per provider and operation, and event schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from photochanger_contracts import (
    JobCreated,
    JobSpec,
    MediaRef,
    Operation,
    SlotSettingsError,
    validate_slot_settings,
)
from photochanger_provider_gemini.settings import GeminiSettings
from photochanger_provider_turbotext.settings import TurbotextSettings
from pydantic import ValidationError


def test_gemini_image_edit_with_a_prompt_is_valid() -> None:
    settings = validate_slot_settings("gemini", Operation.IMAGE_EDIT, {"prompt": "make it warm"})
    assert isinstance(settings, GeminiSettings)
    assert settings.model == "gemini-2.5-flash-image"


def test_image_size_is_refused_on_a_model_that_rejects_it() -> None:
    with pytest.raises(SlotSettingsError) as err:
        validate_slot_settings(
            "gemini",
            Operation.IMAGE_EDIT,
            {"prompt": "x", "image_config": {"image_size": "2K"}},
        )
    assert "image_size" in str(err.value)
    ok = validate_slot_settings(
        "gemini",
        Operation.IMAGE_EDIT,
        {
            "prompt": "x",
            "model": "gemini-3-pro-image-preview",
            "image_config": {"image_size": "2K"},
        },
    )
    assert isinstance(ok, GeminiSettings)


def test_turbotext_strength_outside_0_to_80_names_the_field() -> None:
    with pytest.raises(SlotSettingsError) as err:
        validate_slot_settings("turbotext", Operation.IMAGE_EDIT, {"prompt": "x", "strength": 81})
    assert [p.field for p in err.value.problems] == ["strength"]
    ok = validate_slot_settings("turbotext", Operation.IMAGE_EDIT, {"prompt": "x"})
    assert isinstance(ok, TurbotextSettings) and ok.strength == 40


def test_style_transfer_needs_a_style_template() -> None:
    with pytest.raises(SlotSettingsError) as err:
        validate_slot_settings("gemini", Operation.STYLE_TRANSFER, {"prompt": "x"})
    assert err.value.problems[0].field == "template_media"
    validate_slot_settings(
        "gemini",
        Operation.STYLE_TRANSFER,
        {"prompt": "x", "template_media": [{"role": "style", "media_id": "m1"}]},
    )


def test_unknown_fields_and_providers_are_refused() -> None:
    with pytest.raises(SlotSettingsError):
        validate_slot_settings("gemini", Operation.IMAGE_EDIT, {"prompt": "x", "colour": "red"})
    with pytest.raises(SlotSettingsError) as err:
        validate_slot_settings("dalle", Operation.IMAGE_EDIT, {"prompt": "x"})
    assert err.value.problems[0].field == "provider"


def test_retry_policy_allows_at_most_three_attempts() -> None:
    with pytest.raises(SlotSettingsError):
        validate_slot_settings(
            "gemini", Operation.IMAGE_EDIT, {"prompt": "x", "retry_policy": {"max_attempts": 4}}
        )


def test_events_carry_a_schema_version_and_reject_unknown_fields() -> None:
    now = datetime.now(UTC)
    spec = JobSpec(
        job_id="j", slot_id="slot-001", slot_version=3, provider="gemini",
        operation=Operation.IMAGE_EDIT, settings={"prompt": "x"},
        payload=MediaRef(key="payloads/202611301400/j", mime_type="image/jpeg", size_bytes=5,
                         sha256="ab"),
        created_at=now, expires_at=now, artifact_expires_at=now,
    )  # fmt: skip
    event = JobCreated(occurred_at=now, job=spec)
    data = event.model_dump(mode="json")
    assert data["schema_version"] == 2
    assert JobCreated.model_validate_json(event.model_dump_json()) == event
    with pytest.raises(ValidationError):
        JobCreated.model_validate({**data, "surprise": 1})
    with pytest.raises(ValidationError):  # a version-1 event is not read as a version-2 one
        JobCreated.model_validate({**data, "schema_version": 1})
    with pytest.raises(ValidationError):
        JobCreated.model_validate({**data, "job": {**data["job"], "payload": None}})
